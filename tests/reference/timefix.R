# Reference values for R's timefix (aeqSurv: times equal up to rounding are one time) in the
# survival functions of metaanalysis.survival (km.timefix).
#
# Writes tests/reference/timefix.json: two two-arm data sets whose arms share times that differ
# only by rounding (0.1 + 0.2 against 0.3; a time and the same time times 1 + 1e-12), with
# coxph (Efron) coefficient, SE and log-likelihood, survdiff's chi-square, cox.zph's "km"
# chi-square, survfit's restricted mean (and its SE) per arm at tau = 2.5, and the Kaplan-Meier
# survival of arm a at its distinct times; the coxph coefficient with timefix = FALSE too (the
# times kept apart), and a stratified coxph over both data sets as two trials.
#
# Run from the repository root:   Rscript tests/reference/timefix.R
# Pinned: R >= 4.2, survival 3.5-3 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(survival))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/timefix.json"

sets <- list(
  sum_of_tenths = list(
    ta = c(0.1 + 0.2, 0.7, 1.1, 1.5, 2.0, 2.6, 3.1), ea = c(1, 1, 0, 1, 1, 0, 1),
    tb = c(0.3, 0.6, 1.2, 1.4, 1.9, 2.4, 3.0), eb = c(1, 1, 1, 0, 1, 1, 0)),
  relative = list(
    ta = c(0.5, 1.0, 1.7, 2.2, 2.9, 3.3, 4.0, 4.4) * (1 + 1e-12),
    ea = c(1, 1, 1, 0, 1, 1, 0, 1),
    tb = c(0.5, 1.0, 1.3, 2.2, 2.9, 3.6, 4.0, 4.8), eb = c(1, 0, 1, 1, 1, 0, 1, 1))
)

cases <- list()
for (name in names(sets)) {
  s <- sets[[name]]
  d <- data.frame(time = c(s$ta, s$tb), event = c(s$ea, s$eb),
                  arm = c(rep(1, length(s$ta)), rep(0, length(s$tb))))
  f <- coxph(Surv(time, event) ~ arm, data = d, ties = "efron",
             control = coxph.control(eps = 1e-11, iter.max = 100))
  f0 <- coxph(Surv(time, event) ~ arm, data = d, ties = "efron",
              control = coxph.control(eps = 1e-11, iter.max = 100, timefix = FALSE))
  sd <- survdiff(Surv(time, event) ~ arm, data = d)
  z <- cox.zph(f, transform = "km")
  km <- survfit(Surv(time, event) ~ arm, data = d)
  rm <- summary(km, rmean = 2.5)$table
  ka <- survfit(Surv(time, event) ~ 1, data = d[d$arm == 1, ])
  cases[[name]] <- list(
    ta = arr(s$ta), ea = arr(s$ea), tb = arr(s$tb), eb = arr(s$eb),
    coef = sc(coef(f)), se = sc(sqrt(vcov(f))), loglik = sc(f$loglik[2]),
    coef_no_timefix = sc(coef(f0)), logrank = sc(sd$chisq), zph_km = sc(z$table[1, "chisq"]),
    rmst_a = sc(rm["arm=1", "rmean"]), rmst_a_se = sc(rm["arm=1", "se(rmean)"]),
    rmst_b = sc(rm["arm=0", "rmean"]), rmst_b_se = sc(rm["arm=0", "se(rmean)"]),
    km_a_time = arr(ka$time), km_a_surv = arr(ka$surv))
}
both <- do.call(rbind, lapply(names(sets), function(name) {
  s <- sets[[name]]
  data.frame(time = c(s$ta, s$tb), event = c(s$ea, s$eb),
             arm = c(rep(1, length(s$ta)), rep(0, length(s$tb))), trial = name)
}))
st <- coxph(Surv(time, event) ~ arm + strata(trial), data = both, ties = "efron",
            control = coxph.control(eps = 1e-11, iter.max = 100))

out <- list(r_version = R.version.string,
            survival_version = as.character(packageVersion("survival")),
            generated_by = "tests/reference/timefix.R", cases = cases,
            stratified = list(coef = sc(coef(st)), se = sc(sqrt(vcov(st)))))
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "data sets\n")
