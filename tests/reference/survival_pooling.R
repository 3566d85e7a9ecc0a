# Reference values for metaanalysis.pooling.survival (pooled medians and landmark survival).
#
# Writes tests/reference/survival_pooling.json with, for every case, metafor's rma.uni fit
# (estimate, se, ci, tau2, I2, Q) and the study-level yi/vi it was given:
#
# 1. Median survival with a CI on the 30-trial lung-cancer data (metamedian dat.lung, read from
#    ../shared/curves/metamedian_dat_lung.csv; GPL, so only derived numbers are written here):
#    the formulas of metamedian 1.2.1 metamedian_survival (Wald SE (U - L)/(2z), (m - L)/z when U
#    is not reached; differences add variances; log ratio by the delta method), RE-COMPUTED with
#    metafor (metamedian itself is not installed); plus the log-symmetric SE (ln U - ln L)/(2z) for
#    the log median and log ratio, and the median of medians with R quantile type 7 and the
#    weighted median of medians with weights expanded as frequencies (pre-2023 Hmisc wtd.quantile).
# 2. Landmark survival at 12 months in the experimental arms of metafor's dat.fine1993 (17 glioma
#    trials): arcsine (escalc "PAS"), logit (escalc "PLO") and log(-log S) (by hand, binomial
#    variance S(1 - S)/n, delta method), each with REML and DL.
#
# Run from the repository root:   Rscript tests/reference/survival_pooling.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/survival_pooling.json"
lung_path <- "../shared/curves/metamedian_dat_lung.csv"

source("tests/reference/_json_writer.R")

fit_case <- function(yi, vi, method) {
  f <- rma.uni(yi = yi, vi = vi, method = method, test = "z", level = 95)
  list(yi = arr(yi), vi = arr(vi), method = method,
       estimate = as.numeric(f$b), se = f$se, ci_low = f$ci.lb, ci_high = f$ci.ub,
       pvalue = f$pval, tau2 = f$tau2, i2 = f$I2, q = f$QE)
}

cases <- list()

# ---- 1. medians on dat.lung -------------------------------------------------------------------
if (file.exists(lung_path)) {
  d <- read.csv(lung_path)
  se_wald <- function(m, lb, ub, lev) {
    z <- qnorm(1 - (1 - lev) / 2)
    ifelse(is.na(ub), (m - lb) / z, (ub - lb) / (2 * z))
  }
  se_log <- function(m, lb, ub, lev) {
    z <- qnorm(1 - (1 - lev) / 2)
    ifelse(is.na(ub), (log(m) - log(lb)) / z, (log(ub) - log(lb)) / (2 * z))
  }
  s1 <- se_wald(d$med.g1, d$med.ci.lb.g1, d$med.ci.ub.g1, d$med.ci.level.g1)
  s2 <- se_wald(d$med.g2, d$med.ci.lb.g2, d$med.ci.ub.g2, d$med.ci.level.g2)
  l1 <- se_log(d$med.g1, d$med.ci.lb.g1, d$med.ci.ub.g1, d$med.ci.level.g1)
  l2 <- se_log(d$med.g2, d$med.ci.lb.g2, d$med.ci.ub.g2, d$med.ci.level.g2)
  m1 <- d$med.g1; m2 <- d$med.g2
  cases$lung_median_g1 <- fit_case(m1, s1^2, "REML")
  cases$lung_median_g2 <- fit_case(m2, s2^2, "REML")
  cases$lung_difference <- fit_case(m1 - m2, s1^2 + s2^2, "REML")
  cases$lung_ratio_wald <- fit_case(log(m1) - log(m2), s1^2 / m1^2 + s2^2 / m2^2, "REML")
  cases$lung_ratio_log <- fit_case(log(m1) - log(m2), l1^2 + l2^2, "REML")
  cases$lung_log_median_g1_wald <- fit_case(log(m1), s1^2 / m1^2, "REML")
  cases$lung_log_median_g1_log <- fit_case(log(m1), l1^2, "REML")
  cases$lung_median_g1_dl <- fit_case(m1, s1^2, "DL")

  mm <- function(y) {
    p <- min(0.5, qnorm(0.975) / (2 * sqrt(length(y))))
    unname(quantile(y, c(0.5 - p, 0.5, 0.5 + p), type = 7))
  }
  # pre-2023 Hmisc wtd.quantile(normwt = FALSE): the weights act as frequencies, type 7
  wm <- function(y, w) {
    p <- min(0.5, qnorm(0.975) / (2 * sqrt(length(y))))
    unname(quantile(rep(y, w), c(0.5 - p, 0.5, 0.5 + p), type = 7))
  }
  cases$lung_mm_g1 <- list(quantiles = arr(mm(m1)))
  cases$lung_mm_g2 <- list(quantiles = arr(mm(m2)))
  cases$lung_mm_difference <- list(quantiles = arr(mm(m1 - m2)))
  cases$lung_wm_g1 <- list(quantiles = arr(wm(m1, d$n.g1)))
  cases$lung_wm_difference <- list(quantiles = arr(wm(m1 - m2, d$n.g1 + d$n.g2)))
} else {
  warning("lung data not found at ", lung_path, ": lung cases skipped")
}

# ---- 2. landmark survival on dat.fine1993 --------------------------------------------------------
f <- dat.fine1993
S <- f$e2i / f$nei
n <- f$nei
pas <- escalc(measure = "PAS", xi = f$e2i, ni = f$nei)
plo <- escalc(measure = "PLO", xi = f$e2i, ni = f$nei)
cll_y <- log(-log(S))
cll_v <- (S * (1 - S) / n) / (S * log(S))^2
for (method in c("REML", "DL")) {
  cases[[paste0("fine1993_12m_arcsine_", method)]] <- c(fit_case(pas$yi, pas$vi, method),
    list(survival = arr(S), n = arr(n), back = transf.iarcsin(
      as.numeric(rma.uni(yi = pas$yi, vi = pas$vi, method = method)$b))))
  cases[[paste0("fine1993_12m_logit_", method)]] <- c(fit_case(plo$yi, plo$vi, method),
    list(survival = arr(S), n = arr(n), back = transf.ilogit(
      as.numeric(rma.uni(yi = plo$yi, vi = plo$vi, method = method)$b))))
  cases[[paste0("fine1993_12m_cloglog_", method)]] <- c(fit_case(cll_y, cll_v, method),
    list(survival = arr(S), n = arr(n), back = exp(-exp(
      as.numeric(rma.uni(yi = cll_y, vi = cll_v, method = method)$b)))))
}

out <- list(
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  note = "lung cases: metamedian_survival formulas re-computed with metafor, not metamedian output",
  cases = cases
)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
