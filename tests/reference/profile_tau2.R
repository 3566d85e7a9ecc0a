# Reference values for metaanalysis.pooling.diagnostics.profile_tau2 (metafor's profile.rma.uni).
#
# Writes tests/reference/profile_tau2.json: the (restricted) log-likelihood profile of tau² of
# random-effects fits and meta-regressions of dat.bcg (log RR) and dat.hackshaw1998 (log OR), a
# homogeneous set whose tau² is 0, with metafor's default range (from the Q-profile interval) and
# with a given xlim: the tau² grid, the log-likelihood at each value, the coefficient with its
# interval at each value, and the fit's own log-likelihood. Numbers with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/profile_tau2.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/profile_tau2.json"
source("tests/reference/_json_writer.R")

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hack <- dat.hackshaw1998
homog <- data.frame(yi = c(0.10, 0.12, 0.08, 0.11, 0.09), vi = c(0.02, 0.03, 0.025, 0.04, 0.05))
sets <- list(bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat),
             hackshaw1998 = list(yi = hack$yi, vi = hack$vi),
             homogeneous = list(yi = homog$yi, vi = homog$vi))

fits <- list(
  bcg_reml = list(dataset = "bcg", method = "REML", mods = FALSE, steps = 20, xlim = NULL),
  bcg_ml_steps9 = list(dataset = "bcg", method = "ML", mods = FALSE, steps = 9, xlim = NULL),
  bcg_dl = list(dataset = "bcg", method = "DL", mods = FALSE, steps = 20, xlim = NULL),
  bcg_pm_xlim = list(dataset = "bcg", method = "PM", mods = FALSE, steps = 15, xlim = c(0.01, 2)),
  bcg_ablat_reml = list(dataset = "bcg", method = "REML", mods = TRUE, steps = 20, xlim = NULL),
  hackshaw_reml = list(dataset = "hackshaw1998", method = "REML", mods = FALSE, steps = 20,
                       xlim = NULL),
  homogeneous_reml = list(dataset = "homogeneous", method = "REML", mods = FALSE, steps = 20,
                          xlim = NULL)
)

cases <- list()
for (id in names(fits)) {
  f <- fits[[id]]
  d <- sets[[f$dataset]]
  res <- if (f$mods) rma(d$yi, d$vi, mods = ~ d$ablat, method = f$method)
         else rma(d$yi, d$vi, method = f$method)
  pr <- if (is.null(f$xlim)) profile(res, steps = f$steps, plot = FALSE, progbar = FALSE)
        else profile(res, steps = f$steps, xlim = f$xlim, plot = FALSE, progbar = FALSE)
  cases[[id]] <- list(dataset = f$dataset, method = f$method, mods = f$mods, steps = f$steps,
                      xlim = if (is.null(f$xlim)) NULL else arr(f$xlim),
                      expected = list(tau2 = arr(pr$tau2), ll = arr(pr$ll),
                                      # one array per coefficient, over the grid
                                      beta = lapply(pr$beta, arr), ci_low = lapply(pr$ci.lb, arr),
                                      ci_high = lapply(pr$ci.ub, arr),
                                      tau2_hat = sc(res$tau2), maxll = sc(logLik(res)),
                                      xlim = arr(pr$xlim)))
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/profile_tau2.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
