# Reference values for metaanalysis.pooling.selection (selmodel) and metaanalysis.pooling.pubbias
# (fsn, tes, pet_peese).
#
# Writes tests/reference/selection.json: for every case its data (yi, vi), the input fit, and
# metafor's selmodel output (estimates, SEs, tests, delta, LRTs, log-likelihoods); fsn (Rosenthal,
# Orwin, Rosenberg); tes (default, chi2 and binomial tests, theta_lim); and the PET and PEESE
# regressions as R's lm(yi ~ sqrt(vi), weights = 1/vi) and lm(yi ~ vi, weights = 1/vi).
# Numbers are written with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/selection.R
# Pinned: R >= 4.2, metafor 3.8-1, numDeriv (selmodel's Hessian); the versions used are recorded.

suppressPackageStartupMessages(library(metafor))
suppressPackageStartupMessages(library(numDeriv))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/selection.json"

# ---- datasets --------------------------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hs <- dat.hackshaw1998
gen <- function(seed, k, mu, tau2, select = TRUE) {
  # effects drawn until k are "published": a study with one-sided p > 0.05 survives with
  # probability 0.3, so the published set over-represents significant positive results
  set.seed(seed)
  yi <- vi <- numeric(0)
  while (length(yi) < k) {
    v <- 4 / round(runif(1, 20, 300))
    y <- rnorm(1, mu, sqrt(v + tau2))
    p <- pnorm(y / sqrt(v), lower.tail = FALSE)
    if (!select || p <= 0.05 || runif(1) < 0.3) { yi <- c(yi, y); vi <- c(vi, v) }
  }
  list(yi = yi, vi = vi)
}
g1 <- gen(2024, 25, 0.1, 0.02)
g2 <- gen(77, 15, 0.3, 0, select = FALSE)
datasets <- list(
  bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
  hackshaw = list(yi = hs$yi, vi = hs$vi),
  gen_sel_k25 = g1,
  gen_nosel_k15 = g2
)

# ---- selmodel ----------------------------------------------------------------------------------
sel_summary <- function(s) list(
  estimate = sc(s$beta), se = sc(s$se), statistic = sc(s$zval), pvalue = sc(s$pval),
  ci_low = sc(s$ci.lb), ci_high = sc(s$ci.ub), tau2 = sc(s$tau2), se_tau2 = sc(s$se.tau2),
  tau2_ci_low = sc(s$ci.lb.tau2), tau2_ci_high = sc(s$ci.ub.tau2),
  delta = arr(s$delta), se_delta = arr(s$se.delta), statistic_delta = arr(s$zval.delta),
  pvalue_delta = arr(s$pval.delta), ci_low_delta = arr(s$ci.lb.delta),
  ci_high_delta = arr(s$ci.ub.delta),
  lrt = sc(s$LRT), lrt_df = sc(s$LRTdf), lrt_pvalue = sc(s$LRTp),
  lrt_tau2 = sc(s$LRT.tau2), lrt_tau2_pvalue = sc(s$LRTp.tau2),
  loglik = sc(s$ll), loglik0 = sc(s$ll0),
  k_per_interval = if (is.data.frame(s$ptable)) arr(s$ptable$k) else NULL)

sel_cases <- list()
add_sel <- function(name, data, method, args, tau2 = NULL, description = "") {
  fa <- list(yi = datasets[[data]]$yi, vi = datasets[[data]]$vi, method = method)
  if (!is.null(tau2)) fa$tau2 <- tau2
  res <- do.call(rma, fa)
  s <- tryCatch(suppressWarnings(do.call(selmodel, c(list(res), args))),
                error = function(e) e)
  out <- if (inherits(s, "error")) list(error = conditionMessage(s)) else sel_summary(s)
  a <- args
  if (!is.null(a$steps)) a$steps <- arr(a$steps)
  sel_cases[[name]] <<- c(list(description = description, data = data, method = method,
                               tau2 = tau2, args = a), list(result = out))
}
st4 <- c(0.025, 0.10, 0.50, 1)
# metafor's help(selmodel) examples: dat.hackshaw1998 with an ML fit
add_sel("hackshaw_stepfun", "hackshaw", "ML", list(type = "stepfun", steps = st4),
        description = "help(selmodel): three-step model")
for (ty in c("beta", "halfnorm", "negexp", "logistic", "power"))
  add_sel(paste0("hackshaw_", ty), "hackshaw", "ML", list(type = ty),
          description = paste("help(selmodel):", ty))
add_sel("hackshaw_halfnorm_prec", "hackshaw", "ML",
        list(type = "halfnorm", prec = "sei", steps = 0.05),
        description = "half-normal with precision, p <= 0.05 unselected")
add_sel("hackshaw_stepfun_two_sided", "hackshaw", "REML",
        list(type = "stepfun", steps = c(0.05, 0.5, 1), alternative = "two.sided"),
        description = "REML input (refitted by ML), two-sided p-values")
add_sel("hackshaw_negexp_two_sided", "hackshaw", "ML",
        list(type = "negexp", alternative = "two.sided"),
        description = "negative exponential on two-sided p-values")
add_sel("hackshaw_ee_stepfun", "hackshaw", "EE", list(type = "stepfun", steps = c(0.05, 1)),
        description = "equal-effects input")
add_sel("hackshaw_tau2_fixed_beta", "hackshaw", "REML", list(type = "beta"), tau2 = 0.05,
        description = "tau2 fixed at 0.05")
# dat.bcg: protective effects (log RR < 0), so selection acts on alternative = "less"
add_sel("bcg_stepfun_less", "bcg", "REML",
        list(type = "stepfun", steps = c(0.05, 1), alternative = "less"),
        description = "dat.bcg, one cut at 0.05, alternative less")
add_sel("bcg_negexp_less", "bcg", "REML", list(type = "negexp", alternative = "less"),
        description = "dat.bcg negexp, alternative less")
add_sel("bcg_beta", "bcg", "DL", list(type = "beta", alternative = "less"),
        description = "dat.bcg beta, alternative less, DL input")
add_sel("gen_sel_k25_stepfun", "gen_sel_k25", "REML", list(type = "stepfun", steps = c(0.05, 1)),
        description = "generated with selection at p = 0.05 (seed 2024)")
add_sel("gen_sel_k25_logistic", "gen_sel_k25", "REML", list(type = "logistic"),
        description = "generated with selection (seed 2024), logistic")
add_sel("gen_sel_k25_power", "gen_sel_k25", "ML", list(type = "power"),
        description = "generated with selection (seed 2024), power")
add_sel("gen_nosel_k15_negexp", "gen_nosel_k15", "REML", list(type = "negexp"),
        description = "generated without selection (seed 77), negexp")
add_sel("gen_nosel_k15_empty_interval", "gen_nosel_k15", "REML",
        list(type = "stepfun", steps = c(0.30, 0.3001, 1)),
        description = "an interval without p-values: metafor stops")

# ---- fsn ---------------------------------------------------------------------------------------
fsn_cases <- list()
for (d in names(datasets)) {
  yi <- datasets[[d]]$yi; vi <- datasets[[d]]$vi
  one <- function(...) {
    f <- fsn(yi, vi, ...)
    list(fsnum = sc(f$fsnum), pvalue = sc(f$pval), meanes = sc(f$meanes), target = sc(f$target))
  }
  fsn_cases[[d]] <- list(
    rosenthal = one(type = "Rosenthal"),
    rosenthal_a01 = one(type = "Rosenthal", alpha = 0.01),
    orwin = one(type = "Orwin"),
    orwin_weighted = one(type = "Orwin", weighted = TRUE),
    orwin_target = one(type = "Orwin", target = 0.05),
    rosenberg = one(type = "Rosenberg"))
}

# ---- tes ---------------------------------------------------------------------------------------
tes_summary <- function(t) list(
  o = sc(t$O), e = sc(t$E), oe_ratio = sc(t$OEratio), test = t$test, x2 = sc(t$X2),
  pvalue = sc(t$pval), power = arr(t$power), theta = sc(t$theta),
  theta_lim = if (is.null(t$theta.lim)) NULL else arr(t$theta.lim))
tes_cases <- list()
for (d in names(datasets)) {
  yi <- datasets[[d]]$yi; vi <- datasets[[d]]$vi
  res_re <- rma(yi, vi, method = "REML")
  res_ee <- rma(yi, vi, method = "EE")
  tes_cases[[d]] <- list(
    tau2_reml = sc(res_re$tau2),
    reml_default = tes_summary(tes(res_re, progbar = FALSE)),
    ee_default = tes_summary(tes(res_ee, progbar = FALSE)),
    ee_chi2 = tes_summary(tes(res_ee, test = "chi2", progbar = FALSE)),
    ee_binom = tes_summary(tes(res_ee, test = "binom", progbar = FALSE)),
    reml_chi2_two_sided = tes_summary(tes(res_re, test = "chi2", tes.alternative = "two.sided",
                                          progbar = FALSE)),
    vectors_greater = tes_summary(tes(yi, vi, alternative = "greater", progbar = FALSE)))
}

# ---- PET and PEESE -----------------------------------------------------------------------------
lm_summary <- function(fit) {
  co <- summary(fit)$coefficients
  ci <- confint(fit)
  list(coef = arr(co[, 1]), se = arr(co[, 2]), statistic = arr(co[, 3]), pvalue = arr(co[, 4]),
       ci_low = arr(ci[, 1]), ci_high = arr(ci[, 2]), df = fit$df.residual)
}
pet_cases <- list()
for (d in names(datasets)) {
  yi <- datasets[[d]]$yi; vi <- datasets[[d]]$vi; sei <- sqrt(vi)
  pet <- lm(yi ~ sei, weights = 1 / vi)
  peese <- lm(yi ~ vi, weights = 1 / vi)
  # the same fits as metafor meta-regressions: fixed-effect with the Knapp-Hartung scale
  pet_rma <- suppressWarnings(rma(yi, vi, mods = ~ sei, method = "FE", test = "knha"))
  pet_cases[[d]] <- list(pet = lm_summary(pet), peese = lm_summary(peese),
                         pet_rma_coef = arr(coef(pet_rma)), pet_rma_se = arr(pet_rma$se))
}

out <- list(r_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")),
            numderiv_version = as.character(packageVersion("numDeriv")),
            generated_by = "tests/reference/selection.R",
            datasets = lapply(datasets, function(x) list(yi = arr(x$yi), vi = arr(x$vi))),
            selmodel = sel_cases, fsn = fsn_cases, tes = tes_cases, pet_peese = pet_cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(sel_cases), "selmodel cases\n")
