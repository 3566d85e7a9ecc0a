# Reference values for metaanalysis.pooling.diagnostics and the Mantel-Haenszel / Peto branches of
# metaanalysis.pooling.sensitivity.
#
# Writes tests/reference/diagnostics.json:
#   models: for each dataset x moderators x method x test, metafor's rstandard, rstudent,
#     hatvalues, cooks.distance, dfbetas, blup, ranef, fitstats (ML and REML columns), logLik and
#     parms; vif (each coefficient, and sets via btt) for models with moderators.
#   anova: Wald tests (btt, linear combinations X) and likelihood-ratio tests of nested models
#     (ML; REML with the same fixed effects; REML with different fixed effects, with and without
#     refit = TRUE).
#   binary: leave1out and cumul of rma.mh (OR, RR, RD) and rma.peto fits.
# A call where metafor stops is recorded as {"error": message}.
#
# Run from the repository root:   Rscript tests/reference/diagnostics.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/diagnostics.json"
source("tests/reference/_json_writer.R")

try_or_error <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))

residuals_list <- function(r) list(resid = arr(r$resid), se = arr(r$se), z = arr(r$z))
pred_list <- function(r) list(pred = arr(r$pred), se = arr(r$se), pi_low = arr(r$pi.lb),
                              pi_high = arr(r$pi.ub))
stats_list <- function(fs) list(loglik = sc(fs[1, 1]), deviance = sc(fs[2, 1]), aic = sc(fs[3, 1]),
                                bic = sc(fs[4, 1]), aicc = sc(fs[5, 1]))

record_model <- function(res) {
  out <- list(
    coef = arr(res$beta), tau2 = sc(res$tau2), parms = res$parms,
    rstandard = try_or_error(residuals_list(rstandard(res))),
    rstandard_conditional = try_or_error(residuals_list(rstandard(res, type = "conditional"))),
    rstudent = try_or_error(residuals_list(suppressWarnings(rstudent(res)))),
    hatvalues = try_or_error(arr(hatvalues(res))),
    cooks_distance = try_or_error(arr(suppressWarnings(cooks.distance(res)))),
    dfbetas = try_or_error(lapply(unclass(suppressWarnings(dfbetas(res)))[seq_len(res$p)], arr)),
    blup = try_or_error(pred_list(blup(res))),
    ranef = try_or_error(pred_list(ranef(res))),
    fitstats_ml = stats_list(fitstats(res, REML = FALSE)),
    fitstats_reml = stats_list(fitstats(res, REML = TRUE)),
    loglik = sc(logLik(res)))
  if (!res$int.only) {
    v <- vif(res)
    out$vif <- list(vif = arr(v$vifs), sif = arr(sapply(v$vif, function(x) x$sif)))
  }
  out
}

cases <- list()
add_case <- function(name, yi, vi, mods, method, test, description, weights = NULL, tau2 = NULL) {
  args <- list(yi = yi, vi = vi, method = method, test = test)
  if (!is.null(mods)) args$mods <- mods
  if (!is.null(weights)) args$weights <- weights
  if (!is.null(tau2)) args$tau2 <- tau2
  res <- suppressWarnings(do.call(rma, args))
  rec <- list(description = description,
              data = list(yi = arr(yi), vi = arr(vi),
                          mods = if (is.null(mods)) NULL else lapply(seq_len(ncol(as.matrix(mods))),
                                                                     function(j) arr(as.matrix(mods)[, j])),
                          weights = if (is.null(weights)) NULL else arr(weights)),
              method = method, test = test, tau2_fixed = if (is.null(tau2)) NULL else tau2)
  cases[[name]] <<- c(rec, record_model(res))
  invisible(res)
}

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hs <- dat.hackshaw1998
for (method in c("REML", "ML", "DL", "EE")) {
  for (test in c("z", "knha")) {
    tag <- paste(tolower(method), test, sep = "_")
    add_case(paste0("bcg_", tag), bcg$yi, bcg$vi, NULL, method, test,
             paste("dat.bcg log RR,", method, test))
    add_case(paste0("bcg_ablat_", tag), bcg$yi, bcg$vi, cbind(bcg$ablat), method, test,
             paste("dat.bcg log RR ~ ablat,", method, test))
    add_case(paste0("bcg_ablat_year_", tag), bcg$yi, bcg$vi, cbind(bcg$ablat, bcg$year), method,
             test, paste("dat.bcg log RR ~ ablat + year,", method, test))
    add_case(paste0("hackshaw_", tag), hs$yi, hs$vi, NULL, method, test,
             paste("dat.hackshaw1998 log OR,", method, test))
  }
}
# a categorical moderator (two dummies) beside two continuous ones: vif of sets
alloc_dummies <- cbind(as.numeric(bcg$alloc == "random"), as.numeric(bcg$alloc == "systematic"))
mods_full <- cbind(bcg$ablat, bcg$year, alloc_dummies)
res_full <- add_case("bcg_full_reml_z", bcg$yi, bcg$vi, mods_full, "REML", "z",
                     "dat.bcg log RR ~ ablat + year + alloc (random, systematic), REML, z")
vif_sets <- vif(res_full, btt = list(2:3, 4:5, c(2, 4)))
cases$bcg_full_reml_z$vif_sets <- list(btt = list(arr(2:3), arr(4:5), arr(c(2, 4))),
                                       vif = arr(vif_sets$vifs),
                                       sif = arr(sapply(vif_sets$vif, function(x) x$sif)))
add_case("hackshaw_year_reml_knha", hs$yi, hs$vi, cbind(hs$year), "REML", "knha",
         "dat.hackshaw1998 log OR ~ year, REML, knha")
add_case("bcg_weights_reml_z", bcg$yi, bcg$vi, NULL, "REML", "z",
         "dat.bcg log RR, REML, z, custom weights 1/sei", weights = 1 / sqrt(bcg$vi))
add_case("bcg_tau2fixed_z", bcg$yi, bcg$vi, NULL, "REML", "z",
         "dat.bcg log RR, tau2 fixed at 0.2", tau2 = 0.2)
add_case("bcg_tau2fixed_knha", bcg$yi, bcg$vi, NULL, "REML", "knha",
         "dat.bcg log RR, tau2 fixed at 0.1, knha", tau2 = 0.1)
# small k: 1, 2 and 3 studies
for (k in 1:3) {
  for (method in c("REML", "DL", "EE")) {
    add_case(paste0("bcg_k", k, "_", tolower(method)), bcg$yi[1:k], bcg$vi[1:k], NULL, method, "z",
             paste0("dat.bcg log RR, first ", k, " studies, ", method, ", z"))
  }
}
add_case("bcg_k3_reml_knha", bcg$yi[1:3], bcg$vi[1:3], NULL, "REML", "knha",
         "dat.bcg log RR, first 3 studies, REML, knha")
add_case("bcg_k3_ablat_ee", bcg$yi[1:3], bcg$vi[1:3], cbind(bcg$ablat[1:3]), "EE", "z",
         "dat.bcg log RR ~ ablat, first 3 studies, EE, z")

# ---- anova ----
fit <- function(mods, method, test = "z") {
  if (is.null(mods)) rma(bcg$yi, bcg$vi, method = method, test = test)
  else rma(bcg$yi, bcg$vi, mods = mods, method = method, test = test)
}
wald <- function(a) {
  out <- list(qm = sc(a$QM), qm_df = arr(a$QMdf), qm_pvalue = sc(a$QMp))
  if (!is.null(a$Xb)) out <- c(out, list(estimate = arr(a$Xb), se = arr(a$se), statistic = arr(a$zval),
                                         pvalue = arr(a$pval)))
  out
}
lrt <- function(a) list(
  full = list(loglik = sc(a$fit.stats.f[1]), deviance = sc(a$fit.stats.f[2]), aic = sc(a$fit.stats.f[3]),
              bic = sc(a$fit.stats.f[4]), aicc = sc(a$fit.stats.f[5])),
  reduced = list(loglik = sc(a$fit.stats.r[1]), deviance = sc(a$fit.stats.r[2]), aic = sc(a$fit.stats.r[3]),
                 bic = sc(a$fit.stats.r[4]), aicc = sc(a$fit.stats.r[5])),
  parms_full = a$parms.f, parms_reduced = a$parms.r, lrt = sc(a$LRT), pvalue = sc(a$pval),
  qe_full = sc(a$QE.f), qe_reduced = sc(a$QE.r), tau2_full = sc(a$tau2.f), tau2_reduced = sc(a$tau2.r),
  r2 = sc(a$R2), method = a$method)
lc <- rbind(c(1, 30, 1970), c(0, 1, 0), c(0, 10, -1))
anv <- list()
for (method in c("REML", "ML", "DL", "EE")) {
  for (test in c("z", "knha")) {
    f2 <- fit(cbind(bcg$ablat, bcg$year), method, test)
    tag <- paste(tolower(method), test, sep = "_")
    anv[[paste0("wald_btt23_", tag)]] <- wald(anova(f2, btt = 2:3))
    anv[[paste0("wald_btt3_", tag)]] <- wald(anova(f2, btt = 3))
    anv[[paste0("wald_X_", tag)]] <- wald(anova(f2, X = lc))
    anv[[paste0("wald_X1_", tag)]] <- wald(anova(f2, X = c(1, 40, 1960)))
  }
}
for (method in c("ML", "REML", "EE", "DL")) {
  f0 <- fit(NULL, method); f1 <- fit(cbind(bcg$ablat), method); f2 <- fit(cbind(bcg$ablat, bcg$year), method)
  tag <- tolower(method)
  anv[[paste0("lrt_0_1_", tag)]] <- lrt(suppressWarnings(anova(f1, f0)))
  anv[[paste0("lrt_1_2_", tag)]] <- lrt(suppressWarnings(anova(f2, f1)))
  anv[[paste0("lrt_0_2_", tag)]] <- lrt(suppressWarnings(anova(f0, f2)))
}
# refit = TRUE refits both models with update(): written with data= so that update() finds them
f0 <- rma(yi, vi, data = bcg, method = "REML"); f1 <- rma(yi, vi, mods = ~ ablat, data = bcg, method = "REML")
anv$lrt_0_1_reml_refit <- lrt(anova(f1, f0, refit = TRUE))
f0 <- fit(NULL, "REML"); f1 <- fit(cbind(bcg$ablat), "REML")
# same fixed effects, tau2 estimated versus fixed at 0: the REML comparison metafor allows
anv$lrt_tau2_0_reml <- lrt(anova(f0, rma(bcg$yi, bcg$vi, method = "REML", tau2 = 0)))
fe <- rma(bcg$yi, bcg$vi, mods = cbind(bcg$ablat), method = "EE")
anv$lrt_ee_ml <- lrt(anova(fit(cbind(bcg$ablat), "ML"), fe))
anv$error_same_parms <- try_or_error(anova(f1, fit(cbind(bcg$year), "REML")))
anv$error_ml_reml <- try_or_error(anova(fit(cbind(bcg$ablat), "ML"), f0))

# ---- leave1out and cumul of rma.mh and rma.peto ----
l1o_cols <- c(estimate = "estimate", se = "se", statistic = "zval", pvalue = "pval",
              ci_low = "ci.lb", ci_high = "ci.ub", q = "Q", q_pvalue = "Qp", i2 = "I2", h2 = "H2")
cols <- function(x) lapply(l1o_cols, function(cn) arr(as.numeric(x[[cn]])))
two_arm <- list(
  bcg = with(dat.bcg, list(ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg, order = year)),
  li2007 = with(dat.li2007, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i, order = year)),
  double_zero = list(ai = c(0, 2, 0, 5, 0, 3), n1i = c(30, 40, 25, 60, 15, 50), ci = c(0, 4, 1, 9, 0, 7),
                     n2i = c(28, 41, 25, 58, 16, 49), order = c(2004, 1999, 2010, 2001, 2007, 1995)))
binary <- list()
for (nm in names(two_arm)) {
  d <- two_arm[[nm]]
  for (spec in list(c("MH", "OR"), c("MH", "RR"), c("MH", "RD"), c("PETO", "OR"))) {
    res <- if (spec[1] == "MH") rma.mh(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, measure = spec[2])
           else rma.peto(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
    binary[[paste(nm, tolower(spec[1]), tolower(spec[2]), sep = "_")]] <- list(
      data = list(ai = arr(d$ai), n1i = arr(d$n1i), ci = arr(d$ci), n2i = arr(d$n2i), order = arr(d$order)),
      method = spec[1], measure = spec[2],
      leave1out = cols(suppressWarnings(leave1out(res))),
      cumul = cols(suppressWarnings(cumul(res))),
      cumul_order = cols(suppressWarnings(cumul(res, order = d$order))))
  }
}

out <- list(
  meta = list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor"))),
  cases = cases, anova = anv, binary = binary)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
