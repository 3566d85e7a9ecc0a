# Reference values for metaanalysis.survival.models on arms whose events all fall at one time:
# survreg() intercept-only fits (Weibull, log-normal, log-logistic) where patients are followed past
# that time, so that the likelihood has a maximum although there is one distinct event time.
#
# Writes tests/reference/survival_models_edge.json: three arms (10 events at t = 5 and 5 censored at
# 6-10; 2 events and a censoring at 5, censored at 8, 9, 10; 3 events and a censoring at 5, censored
# at 7 and 12): logLik, intercept, log(scale) and the covariance of (intercept, log scale), with
# survreg's convergence tightened (rel.tolerance 1e-12).
#
# Run from the repository root:   Rscript tests/reference/survival_models_edge.R
# Pinned: R >= 4.2, survival 3.5-3 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(survival))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/survival_models_edge.json"

arms <- list(
  ten_at_5 = data.frame(time = c(rep(5, 10), 6:10), status = c(rep(1, 10), rep(0, 5))),
  two_at_5 = data.frame(time = c(5, 5, 5, 8, 9, 10), status = c(1, 1, 0, 0, 0, 0)),
  three_at_5 = data.frame(time = c(5, 5, 5, 5, 7, 12), status = c(1, 1, 1, 0, 0, 0))
)

cases <- list()
for (name in names(arms)) {
  d <- arms[[name]]
  fits <- list()
  for (dist in c("weibull", "lognormal", "loglogistic")) {
    f <- survreg(Surv(time, status) ~ 1, data = d, dist = dist,
                 control = survreg.control(rel.tolerance = 1e-12, maxiter = 200))
    fits[[dist]] <- list(loglik = sc(f$loglik[2]), intercept = sc(coef(f)),
                         log_scale = sc(log(f$scale)), vcov = arr(vcov(f)),
                         iterations = sc(f$iter))
  }
  cases[[name]] <- list(time = arr(d$time), event = arr(d$status), fits = fits)
}

out <- list(r_version = R.version.string,
            survival_version = as.character(packageVersion("survival")),
            generated_by = "tests/reference/survival_models_edge.R", cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "arms\n")
