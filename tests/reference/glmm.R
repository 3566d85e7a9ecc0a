# Reference values for metaanalysis.pooling.glmm.rma_glmm.
#
# Writes tests/reference/glmm.json: two-arm datasets (dat.bcg, dat.nielweise2007, a small sparse
# set with zero cells and a double-zero study, a generated k = 10 set) and, for every dataset x
# model (UM.FS, UM.RS, CM.EL, CM.AL) x method (EE, ML), rma.glmm(measure = "OR")'s estimate, se,
# zval, pval, ci.lb, ci.ub, tau2, se.tau2 (CM.EL), sigma2 (UM.RS), the Wald and likelihood-ratio
# heterogeneity tests, I2, H2 and the log-likelihood; a few cases with test = "t" and level = 90;
# and rma.glmm(measure = "IRR", model = "UM.FS") on dat.hart1999 and a generated incidence set.
# Numbers are written with 17 significant digits ("%.17g"); NA as null. A fit where metafor
# stops with an error is recorded as {"error": message}.
#
# Run from the repository root:   Rscript tests/reference/glmm.R
# Pinned: R >= 4.2, metafor 3.8-1, lme4, BiasedUrn, numDeriv (versions recorded in the JSON).

suppressPackageStartupMessages({library(metafor); library(lme4); library(BiasedUrn); library(numDeriv)})

out_path <- "tests/reference/glmm.json"
source("tests/reference/_json_writer.R")
# the shared two-arm datasets (each generator sets its own seed); the GLMMs use three of them
source("tests/reference/_two_arm_datasets.R")
two_arm <- list(bcg = two_arm$bcg, nielweise2007 = two_arm$nielweise2007,
                sparse = list(ai = c(0, 2, 1, 0, 4, 0), n1i = c(20, 35, 18, 25, 40, 15),
                              ci = c(2, 5, 0, 3, 6, 0), n2i = c(21, 33, 20, 24, 41, 16)),
                gen_k10 = two_arm$gen_k10)

incidence <- list()
incidence$hart1999 <- with(dat.hart1999, list(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i))
set.seed(31)
incidence$gen_k8 <- list(x1i = rpois(8, 6), t1i = round(runif(8, 50, 200), 1),
                         x2i = rpois(8, 10), t2i = round(runif(8, 50, 200), 1))

record <- function(res) {
  list(estimate = sc(res$beta), se = sc(res$se), zval = sc(res$zval), pval = sc(res$pval),
       ci_low = sc(res$ci.lb), ci_high = sc(res$ci.ub), tau2 = sc(res$tau2), se_tau2 = sc(res$se.tau2),
       sigma2 = sc(res$sigma2), q_wald = sc(res$QE.Wld), q_wald_pvalue = sc(res$QEp.Wld),
       q_lrt = sc(res$QE.LRT), q_lrt_pvalue = sc(res$QEp.LRT), q_df = sc(res$QE.df),
       i2 = sc(res$I2), h2 = sc(res$H2), k = res$k, loglik = sc(res$fit.stats["ll", "ML"]))
}
fit_case <- function(args) {
  res <- tryCatch(suppressWarnings(do.call(rma.glmm, args)), error = function(e) e)
  if (inherits(res, "error")) list(error = conditionMessage(res)) else record(res)
}

cases <- list()
for (ds in names(two_arm)) for (model in c("UM.FS", "UM.RS", "CM.EL", "CM.AL")) for (method in c("EE", "ML")) {
  id <- paste("glmm", ds, model, method, sep = "_")
  args <- c(list(measure = "OR", model = model, method = method), two_arm[[ds]])
  cases[[id]] <- list(family = "two_arm", dataset = ds, measure = "OR", model = model, method = method,
                      test = "z", level = 95, expected = fit_case(args))
}
for (model in c("UM.FS", "CM.AL", "CM.EL")) {
  id <- paste("glmm_bcg", model, "ML_t_level90", sep = "_")
  args <- c(list(measure = "OR", model = model, method = "ML", test = "t", level = 90), two_arm$bcg)
  cases[[id]] <- list(family = "two_arm", dataset = "bcg", measure = "OR", model = model, method = "ML",
                      test = "t", level = 90, expected = fit_case(args))
}
for (ds in names(incidence)) for (method in c("EE", "ML")) {
  id <- paste("glmm", ds, "IRR_UM.FS", method, sep = "_")
  args <- c(list(measure = "IRR", model = "UM.FS", method = method), incidence[[ds]])
  cases[[id]] <- list(family = "incidence", dataset = ds, measure = "IRR", model = "UM.FS", method = method,
                      test = "z", level = 95, expected = fit_case(args))
}

datasets <- list(two_arm = lapply(two_arm, function(d) lapply(d, arr)),
                 incidence = lapply(incidence, function(d) lapply(d, arr)))
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            lme4_version = as.character(packageVersion("lme4")),
            versions = list(BiasedUrn = as.character(packageVersion("BiasedUrn")),
                            numDeriv = as.character(packageVersion("numDeriv"))),
            generated_by = "tests/reference/glmm.R", datasets = datasets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", length(cases), "cases to", out_path, "\n")
