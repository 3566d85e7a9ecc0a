# Reference values for meta_regression at two edges metafor 3.8 fits without error:
#   perfect_fit: moderators that fit yi exactly, so that the Knapp-Hartung scale is 0 (se = 0,
#                QM = NA) while the z test keeps its standard errors;
#   saturated_ee: a common-effect model with as many coefficients as studies (QE on 0 df,
#                 R2 = NA), with the z test and with Knapp-Hartung (se = 0, QM = NA).
# Run from the repository root: Rscript tests/reference/regression_edge.R
# Writes tests/reference/regression_edge.json (17 significant digits; NA and non-finite as null).

suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")
out_path <- "tests/reference/regression_edge.json"

designs <- list(
  perfect_fit = list(yi = c(0.1, 0.2, 0.3, 0.4, 0.5), vi = c(0.1, 0.2, 0.1, 0.3, 0.2),
                     X = cbind(1, c(1, 2, 3, 4, 5)), methods = c("REML", "DL")),
  saturated_ee = list(yi = c(-0.5287, 1.2346, 0.5289), vi = c(0.167, 0.1188, 0.1966),
                      X = model.matrix(~ g, data = data.frame(g = c("a", "b", "c"))),
                      methods = "EE")
)
cases <- list()
for (name in names(designs)) {
  d <- designs[[name]]
  for (method in d$methods) for (test in c("z", "knha")) {
    f <- suppressWarnings(rma(d$yi, d$vi, mods = d$X, intercept = FALSE, method = method,
                              test = test))
    cases[[length(cases) + 1]] <- list(
      design = name, method = method, test = test, yi = arr(d$yi), vi = arr(d$vi),
      X = lapply(seq_len(nrow(d$X)), function(i) arr(d$X[i, ])),
      coef = arr(f$beta), se = arr(f$se), tau2 = f$tau2, QE = f$QE, QM = f$QM,
      QMdf = arr(f$QMdf), QMp = f$QMp, R2 = if (is.null(f$R2)) NA else f$R2)
  }
}
out <- list(meta = list(R_version = R.version.string,
                        metafor_version = as.character(packageVersion("metafor"))),
            cases = cases)
writeLines(to_json(out), out_path)
