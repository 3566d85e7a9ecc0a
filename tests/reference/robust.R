# Reference values for metaanalysis.pooling.robust (metafor's robust() and clubSandwich).
#
# Writes tests/reference/robust.json: datasets (dat.konstantopoulos2011, dat.bcg as log risk ratios
# with an artificial clustering, dat.berkey1998 with its V), and for each fitted model (rma.uni
# without and with moderators, with custom weights, rma.mv) and cluster variable:
#   * robust(fit, cluster) with adjust = TRUE (CR1) and FALSE (CR0): beta, se, tval, df, pval,
#     ci.lb, ci.ub, vb, QM, QMdf, QMp;
#   * robust(fit, cluster, clubSandwich = TRUE): the same (CR2, Satterthwaite df, HTZ Wald test);
#   * clubSandwich directly: coef_test(fit, vcov = "CR2", cluster) and, with moderators,
#     Wald_test(..., test = "HTZ") of the coefficients metafor's QM tests.
# The rma.mv fits use metafor's default control; the robust variances are computed from that fit.
#
# Run from the repository root:   Rscript tests/reference/robust.R
# Pinned: R >= 4.2, metafor 3.8-1, clubSandwich 0.5.8 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))
suppressPackageStartupMessages(library(clubSandwich))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/robust.json"
mat <- function(M) lapply(seq_len(nrow(M)), function(i) arr(M[i, ]))

konst <- dat.konstantopoulos2011
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
# an artificial clustering of the 13 trials into 7 groups (say, by research team)
bcg$team <- c(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7)
berkey <- dat.berkey1998
V_berkey <- bldiag(lapply(split(berkey[, c("v1i", "v2i")], berkey$trial), as.matrix))

datasets <- list(
  konstantopoulos2011 = list(yi = arr(konst$yi), vi = arr(konst$vi), district = arr(konst$district),
                             school = arr(konst$school), year = arr(konst$year)),
  bcg = list(yi = arr(bcg$yi), vi = arr(bcg$vi), ablat = arr(bcg$ablat), year = arr(bcg$year), team = arr(bcg$team)),
  berkey1998 = list(yi = arr(berkey$yi), V = mat(V_berkey), trial = arr(berkey$trial),
                    outcome = as.character(berkey$outcome))
)

robust_record <- function(r) list(
  beta = arr(r$beta), se = arr(r$se), tval = arr(r$zval), df = arr(r$dfs), pval = arr(r$pval),
  ci_lb = arr(r$ci.lb), ci_ub = arr(r$ci.ub), vb = mat(r$vb), QM = sc(r$QM), QMdf = arr(r$QMdf),
  QMp = sc(r$QMp), n = r$n)

cases <- list(
  list(id = "pool_reml", data = "konstantopoulos2011", model = "rma", method = "REML", mods = NA,
       weights = "none", cluster = "district",
       fit = function() rma(yi, vi, data = konst), cl = konst$district),
  list(id = "pool_dl", data = "konstantopoulos2011", model = "rma", method = "DL", mods = NA,
       weights = "none", cluster = "district",
       fit = function() rma(yi, vi, data = konst, method = "DL"), cl = konst$district),
  list(id = "pool_ee", data = "konstantopoulos2011", model = "rma", method = "EE", mods = NA,
       weights = "none", cluster = "district",
       fit = function() rma(yi, vi, data = konst, method = "EE"), cl = konst$district),
  list(id = "pool_weights", data = "konstantopoulos2011", model = "rma", method = "REML", mods = NA,
       weights = "1/sqrt(vi)", cluster = "district",
       fit = function() rma(yi, vi, data = konst, weights = 1 / sqrt(vi)), cl = konst$district),
  list(id = "reg_year", data = "konstantopoulos2011", model = "rma", method = "REML", mods = "~ year",
       weights = "none", cluster = "district",
       fit = function() rma(yi, vi, mods = ~ year, data = konst), cl = konst$district),
  list(id = "reg_bcg", data = "bcg", model = "rma", method = "REML", mods = "~ ablat + year",
       weights = "none", cluster = "team",
       fit = function() rma(yi, vi, mods = ~ ablat + year, data = bcg), cl = bcg$team),
  list(id = "mv_konst", data = "konstantopoulos2011", model = "rma.mv", method = "REML", mods = NA,
       weights = "none", cluster = "district", random = "~ 1 | district/school", struct = "CS",
       fit = function() rma.mv(yi, vi, random = ~ 1 | district/school, data = konst), cl = konst$district),
  list(id = "mv_konst_year", data = "konstantopoulos2011", model = "rma.mv", method = "REML", mods = "~ year",
       weights = "none", cluster = "district", random = "~ 1 | district/school", struct = "CS",
       fit = function() rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school, data = konst),
       cl = konst$district),
  list(id = "mv_berkey_un", data = "berkey1998", model = "rma.mv", method = "REML", mods = "~ outcome - 1",
       weights = "none", cluster = "trial", random = "~ outcome | trial", struct = "UN",
       fit = function() rma.mv(yi, V_berkey, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN",
                               data = berkey), cl = berkey$trial)
)

results <- lapply(cases, function(cs) {
  res <- cs$fit()
  cl <- cs$cl
  cr <- robust_record(robust(res, cluster = cl))
  cr0 <- robust_record(robust(res, cluster = cl, adjust = FALSE))
  cr2 <- robust_record(robust(res, cluster = cl, clubSandwich = TRUE))
  vc <- vcovCR(res, cluster = cl, type = "CR2")
  ct <- coef_test(res, vcov = vc, cluster = cl, test = "Satterthwaite")
  direct <- list(se = arr(ct$SE), tstat = arr(ct$tstat), df = arr(ct$df_Satt), p = arr(ct$p_Satt),
                 vcov = mat(as.matrix(vc)))
  if (!res$int.only) {
    wt <- Wald_test(res, constraints = constrain_zero(res$btt), vcov = vc, cluster = cl, test = "HTZ")
    direct$wald <- list(Fstat = sc(wt$Fstat), df_num = sc(wt$df_num), df_denom = sc(wt$df_denom), p = sc(wt$p_val))
  }
  fit <- list(beta = arr(res$beta), tau2 = arr(if (is.null(res$tau2)) numeric(0) else res$tau2),
              sigma2 = arr(if (is.null(res$sigma2)) numeric(0) else res$sigma2),
              rho = arr(if (is.null(res$rho)) numeric(0) else res$rho))
  c(cs[c("id", "data", "model", "method", "mods", "weights", "cluster")],
    list(random = if (is.null(cs$random)) NA else cs$random, struct = if (is.null(cs$struct)) NA else cs$struct,
         fit = fit, CR1 = cr, CR0 = cr0, CR2 = cr2, clubSandwich = direct))
})
names(results) <- vapply(cases, function(cs) cs$id, "")

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            clubSandwich_version = as.character(packageVersion("clubSandwich")),
            datasets = datasets, cases = results)
writeLines(to_json(out), out_path)
