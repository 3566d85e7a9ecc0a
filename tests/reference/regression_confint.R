# Reference values for confint() of meta-regressions: the intervals of tau² of every type metafor
# 3.8 offers for models with moderators (QP, PL, Wald, Wald.log, Wald.sqrt) and the coefficients'
# intervals, at two levels.
# Run from the repository root: Rscript tests/reference/regression_confint.R
# Writes tests/reference/regression_confint.json (17 significant digits; NA and non-finite as null).

suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")
out_path <- "tests/reference/regression_confint.json"

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hack <- dat.hackshaw1998
designs <- list(
  bcg_ablat = list(data = bcg, mods = ~ ablat),
  bcg_ablat_year = list(data = bcg, mods = ~ ablat + year),
  bcg_alloc = list(data = bcg, mods = ~ factor(alloc)),
  hackshaw_year = list(data = hack, mods = ~ year)
)
cases <- list()
for (dname in names(designs)) {
  d <- designs[[dname]]
  for (method in c("REML", "ML", "DL", "PM")) {
    for (test in c("z", "knha")) {
      for (level in c(95, 90)) {
        fit <- rma(yi, vi, mods = d$mods, data = d$data, method = method, test = test, level = level)
        case <- list(design = dname, method = method, test = test, level = level,
                     yi = arr(d$data$yi), vi = arr(d$data$vi),
                     X = lapply(seq_len(nrow(model.matrix(fit))), function(i) arr(model.matrix(fit)[i, ])),
                     tau2 = fit$tau2, coef_ci_low = arr(fit$ci.lb), coef_ci_high = arr(fit$ci.ub))
        for (type in c("QP", "PL", "Wald", "Wald.log", "Wald.sqrt")) {
          ci <- try(suppressWarnings(confint(fit, type = type)), silent = TRUE)
          case[[type]] <- if (inherits(ci, "try-error")) list(error = as.character(ci)) else
            list(tau2 = arr(ci$random["tau^2", ]), i2 = arr(ci$random["I^2(%)", ]),
                 h2 = arr(ci$random["H^2", ]))
        }
        cases[[length(cases) + 1]] <- case
      }
    }
  }
}
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            cases = cases)
writeLines(to_json(out), out_path)
