# Reference values for metaanalysis.pooling.proportions.pool_proportions.
#
# Writes tests/reference/proportions.json: single-proportion datasets (dat.pritz1997,
# dat.debruin2009 and generated sets with 0% and 100% studies, k = 2 to 50) and, for every case,
# metafor's escalc + rma (PLO, PFT, PAS, PR, PLN; EE, DL, REML; tests z and knha) with predict()
# back-transformed (transf.ilogit, transf.ipft.hm with the study sizes, transf.iarcsin, exp), and
# rma.glmm(measure = "PLO") (lme4 glmer, nAGQ = 7; tests z and t) with its Wald and LRT
# heterogeneity tests. Numbers are written with 17 significant digits ("%.17g"); NA as null.
#
# Run from the repository root:   Rscript tests/reference/proportions.R
# Pinned: R >= 4.2, metafor 3.8-1, lme4 (the versions used are recorded in the JSON).

suppressPackageStartupMessages({library(metafor); library(lme4)})

out_path <- "tests/reference/proportions.json"

source("tests/reference/_json_writer.R")

gen_one_arm <- function(k, p, nmin, nmax, seed, tau = 0) {
  set.seed(seed)
  n <- sample(nmin:nmax, k, replace = TRUE)
  pr <- plogis(qlogis(p) + rnorm(k, 0, tau))
  list(xi = rbinom(k, n, pr), ni = n)
}
one_arm <- list()
one_arm$pritz1997 <- with(dat.pritz1997, list(xi = xi, ni = ni))
one_arm$debruin2009 <- with(dat.debruin2009, list(xi = xi, ni = ni))
one_arm$gen_k2 <- gen_one_arm(2, 0.3, 10, 50, 11)
one_arm$gen_k3 <- gen_one_arm(3, 0.2, 20, 80, 14, tau = 0.5)
one_arm$gen_k5_zero <- list(xi = c(0, 3, 1, 0, 7), ni = c(12, 30, 25, 8, 40))
one_arm$gen_k10_full <- list(xi = c(12, 20, 5, 9, 30, 14, 7, 18, 25, 10), ni = c(12, 25, 9, 9, 41, 20, 10, 22, 25, 16))
one_arm$gen_k20 <- gen_one_arm(20, 0.15, 5, 100, 12, tau = 0.6)
one_arm$gen_k30_rare <- gen_one_arm(30, 0.03, 10, 150, 15, tau = 0.4)
one_arm$gen_k50 <- gen_one_arm(50, 0.6, 10, 300, 13, tau = 1.0)
one_arm$gen_k8_homog <- gen_one_arm(8, 0.4, 50, 200, 16, tau = 0)

back <- list(PLO = function(x, ni) transf.ilogit(x), PFT = function(x, ni) transf.ipft.hm(x, targs = list(ni = ni)),
             PAS = function(x, ni) transf.iarcsin(x), PR = function(x, ni) x, PLN = function(x, ni) exp(x))

cases <- list()
for (ds in names(one_arm)) {
  d <- one_arm[[ds]]
  for (m in c("PLO", "PFT", "PAS", "PR", "PLN")) for (meth in c("EE", "DL", "REML")) for (tst in c("z", "knha")) {
    id <- paste("rma", ds, m, meth, tst, sep = "_")
    es <- escalc(measure = m, xi = d$xi, ni = d$ni)
    res <- tryCatch(suppressWarnings(rma(yi, vi, data = es, method = meth, test = tst)), error = function(e) e)
    if (inherits(res, "error")) { cases[[id]] <- list(dataset = ds, fn = "rma", measure = m, method = meth, test = tst, expected = list(error = conditionMessage(res))); next }
    p <- predict(res)
    tf <- back[[m]]
    pil <- if (is.null(p$pi.lb)) NA_real_ else sc(p$pi.lb)
    piu <- if (is.null(p$pi.ub)) NA_real_ else sc(p$pi.ub)
    expected <- list(estimate = sc(res$beta), se = sc(res$se), statistic = sc(res$zval), pvalue = sc(res$pval),
                     ci_low = sc(res$ci.lb), ci_high = sc(res$ci.ub), tau2 = sc(res$tau2), q = sc(res$QE),
                     q_pvalue = sc(res$QEp), i2 = sc(res$I2), h2 = sc(res$H2), k = res$k,
                     pi_low = if (meth == "EE") NA_real_ else pil, pi_high = if (meth == "EE") NA_real_ else piu,
                     proportion = sc(tf(sc(res$beta), d$ni)), proportion_ci_low = sc(tf(sc(res$ci.lb), d$ni)),
                     proportion_ci_high = sc(tf(sc(res$ci.ub), d$ni)),
                     proportion_pi_low = if (meth == "EE") NA_real_ else sc(tf(pil, d$ni)),
                     proportion_pi_high = if (meth == "EE") NA_real_ else sc(tf(piu, d$ni)),
                     weights = arr(weights(res) / 100))
    cases[[id]] <- list(dataset = ds, fn = "rma", measure = m, method = meth, test = tst, expected = expected)
  }
  for (tst in c("z", "t")) {
    id <- paste("glmm", ds, tst, sep = "_")
    res <- tryCatch(suppressWarnings(rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni, test = tst)), error = function(e) e)
    if (inherits(res, "error")) { cases[[id]] <- list(dataset = ds, fn = "glmm", test = tst, expected = list(error = conditionMessage(res))); next }
    p <- predict(res, transf = transf.ilogit)
    expected <- list(estimate = sc(res$beta), se = sc(res$se), statistic = sc(res$zval), pvalue = sc(res$pval),
                     ci_low = sc(res$ci.lb), ci_high = sc(res$ci.ub), tau2 = sc(res$tau2),
                     q = sc(res$QE.Wld), q_pvalue = sc(res$QEp.Wld), q_lrt = sc(res$QE.LRT), q_lrt_pvalue = sc(res$QEp.LRT),
                     i2 = sc(res$I2), h2 = sc(res$H2), k = res$k,
                     proportion = sc(p$pred), proportion_ci_low = sc(p$ci.lb), proportion_ci_high = sc(p$ci.ub),
                     proportion_pi_low = sc(p$pi.lb), proportion_pi_high = sc(p$pi.ub))
    cases[[id]] <- list(dataset = ds, fn = "glmm", test = tst, expected = expected)
  }
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            lme4_version = as.character(packageVersion("lme4")), generated_by = "tests/reference/proportions.R",
            datasets = lapply(one_arm, function(d) lapply(d, arr)), cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", length(cases), "cases to", out_path, "\n")
