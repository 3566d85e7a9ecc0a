# Reference values for metaanalysis.pooling.rmst (restricted mean survival time across trials).
#
# Writes tests/reference/rmst.json: for six two-arm data sets of tests/data/ipd/ (veteran, lung,
# colon_death, pbc, myeloid, gbsg; arm 1 = arm a, arm 0 = arm b) and several horizons tau,
#   - survfit(Surv(time, event) ~ arm) summarised with rmean = tau: rmean and se(rmean) per arm
#     (survival's Kaplan-Meier area and its Greenwood-type variance, the Klein-Moeschberger formula);
#   - the default horizon of pool_rmst: the smallest, over trials, of the shorter arm's last time;
#   - metafor rma() on the per-trial RMST differences (vi = se_a^2 + se_b^2) and log RMST ratios
#     (delta method: vi = se_a^2 / rmst_a^2 + se_b^2 / rmst_b^2), REML / DL / EE with z and knha.
#
# Run from the repository root:   Rscript tests/reference/rmst.R
# Pinned: R >= 4.2, survival 3.5-3, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(survival))
suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/rmst.json"
names_ <- c("veteran", "lung", "colon_death", "pbc", "myeloid", "gbsg")
data <- lapply(names_, function(n) read.csv(file.path("tests/data/ipd", paste0(n, ".csv"))))
names(data) <- names_

last_time <- sapply(data, function(d) min(tapply(d$time, d$arm, max)))
tau_default <- min(last_time)

rmst_arms <- function(d, tau) {
  f <- survfit(Surv(time, event) ~ arm, data = d)
  tb <- summary(f, rmean = tau)$table
  # rows arm=0 (b), arm=1 (a)
  list(tau = tau, rmst_a = sc(tb["arm=1", "rmean"]), se_a = sc(tb["arm=1", "se(rmean)"]),
       rmst_b = sc(tb["arm=0", "rmean"]), se_b = sc(tb["arm=0", "se(rmean)"]))
}

# per data set: the default tau, a quarter and a half of its own shorter follow-up, an event time,
# and its own shorter arm's last time (the largest horizon allowed)
per_arm <- list()
for (n in names_) {
  d <- data[[n]]
  ev <- sort(unique(d$time[d$event == 1]))
  taus <- c(tau_default, last_time[[n]] / 4, last_time[[n]] / 2, ev[floor(length(ev) / 3)], last_time[[n]])
  per_arm[[n]] <- lapply(taus, function(t) rmst_arms(d, t))
}

pooled <- list()
for (tau in c(tau_default, tau_default / 2)) {
  r <- lapply(data, rmst_arms, tau = tau)
  ra <- sapply(r, `[[`, "rmst_a"); rb <- sapply(r, `[[`, "rmst_b")
  va <- sapply(r, `[[`, "se_a")^2; vb <- sapply(r, `[[`, "se_b")^2
  for (measure in c("RMSTD", "RMSTR")) {
    yi <- if (measure == "RMSTD") ra - rb else log(ra / rb)
    vi <- if (measure == "RMSTD") va + vb else va / ra^2 + vb / rb^2
    for (method in c("REML", "DL", "EE")) for (test in c("z", "knha")) {
      f <- rma(yi, vi, method = method, test = test)
      pooled[[length(pooled) + 1]] <- list(
        tau = tau, measure = measure, method = method, test = test, yi = arr(yi), vi = arr(vi),
        estimate = sc(f$beta), se = sc(f$se), ci_low = sc(f$ci.lb), ci_high = sc(f$ci.ub),
        pvalue = sc(f$pval), tau2 = sc(f$tau2), i2 = sc(f$I2), q = sc(f$QE))
    }
  }
}

out <- list(
  meta = list(R_version = R.version.string, survival_version = as.character(packageVersion("survival")),
              metafor_version = as.character(packageVersion("metafor"))),
  datasets = names_, tau_default = tau_default, last_time = as.list(last_time),
  per_arm = per_arm, pooled = pooled)
writeLines(to_json(out), out_path)
