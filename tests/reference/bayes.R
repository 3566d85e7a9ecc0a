# Reference values for metaanalysis.pooling.bayes (Bayesian random-effects meta-analysis).
#
# R's bayesmeta package is not in Debian, so this script does not call it. It integrates the joint
# posterior of (tau, mu) of the normal-normal hierarchical model directly, from the raw likelihood
# prod_i dnorm(y_i, mu, sqrt(sigma_i^2 + tau^2)) and the priors, with nested calls of R's
# integrate(): no conjugate formula, no grid. For each case it writes the normalising constant,
# posterior moments of tau and mu, the CDFs of tau and mu and the marginal density of mu at fixed
# points, and (where the priors are proper) the marginal likelihood and the Bayes factors of
# tau = 0 and mu = 0 against the full model.
#
# Run from the repository root:   Rscript tests/reference/bayes.R
# Deterministic (no random numbers). Versions are recorded in the JSON.

suppressPackageStartupMessages(library(stats))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/bayes.json"
RTOL <- 1e-10

dhalfnormal_log <- function(t, scale) log(2) + dnorm(t, 0, scale, log = TRUE)
dhalfcauchy_log <- function(t, scale) log(2) + dcauchy(t, 0, scale, log = TRUE)

reference_case <- function(y, s, log_prior_tau, mu_prior = NULL, tau_upper = Inf,
                           tau_points = numeric(0), mu_points = numeric(0)) {
  v <- s^2
  log_joint <- function(mu, tau) {
    lp <- sum(dnorm(y, mu, sqrt(v + tau^2), log = TRUE)) + log_prior_tau(tau)
    if (!is.null(mu_prior)) lp <- lp + dnorm(mu, mu_prior[1], mu_prior[2], log = TRUE)
    lp
  }
  shift <- log_joint(mean(y), sqrt(median(v)))
  # the likelihood confines mu to the data's range widened by 30 SDs of one study
  mu_limits <- function(tau) {
    half <- 30 * sqrt(max(v) + tau^2)
    c(min(y) - half, max(y) + half)
  }
  inner <- function(tau, g, upper = Inf) {
    lim <- mu_limits(tau)
    b <- min(lim[2], upper)
    if (b <= lim[1]) return(0)
    f <- function(m) vapply(m, function(mm) g(mm, tau) * exp(log_joint(mm, tau) - shift), 0)
    # pieces split at the data's range, where the mass is, so that no peak is stepped over
    cuts <- sort(unique(c(lim[1], min(y), max(y), b)))
    cuts <- cuts[cuts >= lim[1] & cuts <= b]
    total <- 0
    for (j in seq_len(length(cuts) - 1))
      total <- total + integrate(f, cuts[j], cuts[j + 1], rel.tol = RTOL, abs.tol = 0,
                                 subdivisions = 1000L)$value
    total
  }
  outer <- function(g, upper = Inf, tau_hi = tau_upper) {
    f <- function(t) vapply(t, function(tt) inner(tt, g, upper), 0)
    integrate(f, 0, tau_hi, rel.tol = RTOL, abs.tol = 0, subdivisions = 1000L)$value
  }
  one <- function(m, t) 1
  z <- outer(one)
  mu_mean <- outer(function(m, t) m) / z
  mu_var <- outer(function(m, t) (m - mu_mean)^2) / z
  tau_mean <- outer(function(m, t) t) / z
  tau2_mean <- outer(function(m, t) t^2) / z
  res <- list(
    log_z = log(z) + shift, mu_mean = mu_mean, mu_sd = sqrt(mu_var), tau_mean = tau_mean,
    tau_sd = sqrt(tau2_mean - tau_mean^2), theta_sd = sqrt(mu_var + tau2_mean),
    tau_points = arr(tau_points),
    tau_cdf = arr(vapply(tau_points, function(x) outer(one, tau_hi = x) / z, 0)),
    mu_points = arr(mu_points),
    mu_cdf = arr(vapply(mu_points, function(x) outer(one, upper = x) / z, 0)),
    mu_pdf = arr(vapply(mu_points, function(x) {
      f <- function(t) vapply(t, function(tt) exp(log_joint(x, tt) - shift), 0)
      integrate(f, 0, tau_upper, rel.tol = RTOL, abs.tol = 0, subdivisions = 1000L)$value / z
    }, 0)))
  # p(y | tau = 0) / p(y): with a flat prior for mu its arbitrary constant cancels
  lim0 <- mu_limits(0)
  fe <- integrate(function(m) vapply(m, function(mm) exp(log_joint(mm, 0) - log_prior_tau(0) - shift), 0),
                  lim0[1], lim0[2], rel.tol = RTOL, abs.tol = 0, subdivisions = 1000L)$value
  res$bayes_factor_tau0 <- fe / z
  if (!is.null(mu_prior)) {
    res$marginal_likelihood <- z * exp(shift)
    # p(y | mu = 0) / p(y)
    m0 <- integrate(function(t) vapply(t, function(tt) {
      exp(sum(dnorm(y, 0, sqrt(v + tt^2), log = TRUE)) + log_prior_tau(tt) - shift)
    }, 0), 0, tau_upper, rel.tol = RTOL, abs.tol = 0, subdivisions = 1000L)$value
    res$bayes_factor_mu0 <- m0 / z
  } else {
    res$marginal_likelihood <- NA_real_
    res$bayes_factor_mu0 <- NA_real_
  }
  res
}

# Crins et al. (2014), acute rejection, log odds ratios as printed in bayesmeta's vignette
# (escalc(measure = "OR")): Röver (2020)'s example, with its half-normal(0.5) prior.
crins_y <- c(-2.3097, -0.4595, -2.3026, -1.7579, -1.2585, -2.4179)
crins_s <- sqrt(c(0.3594, 0.3096, 0.7750, 0.2078, 0.4122, 2.3373))
# Rubin (1981) eight schools, as in bayesmeta's vignette
schools_y <- c(28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16)
schools_s <- c(14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6)

cases <- list(
  crins_halfnormal = c(
    list(y = arr(crins_y), sei = arr(crins_s), tau_prior = "halfnormal", tau_scale = 0.5, mu_prior = NULL),
    reference_case(crins_y, crins_s, function(t) dhalfnormal_log(t, 0.5),
                   tau_points = c(0.1, 0.3, 0.6), mu_points = c(-2.5, -1.6, -1))),
  crins_halfnormal_normal = c(
    list(y = arr(crins_y), sei = arr(crins_s), tau_prior = "halfnormal", tau_scale = 0.5,
         mu_prior = arr(c(0, 4))),
    reference_case(crins_y, crins_s, function(t) dhalfnormal_log(t, 0.5), mu_prior = c(0, 4),
                   tau_points = c(0.1, 0.3, 0.6), mu_points = c(-2.5, -1.6, -1))),
  schools_halfcauchy_normal = c(
    list(y = arr(schools_y), sei = arr(schools_s), tau_prior = "halfcauchy", tau_scale = 25,
         mu_prior = arr(c(0, 50))),
    reference_case(schools_y, schools_s, function(t) dhalfcauchy_log(t, 25), mu_prior = c(0, 50),
                   tau_points = c(2, 5, 15), mu_points = c(-2, 8, 18))),
  three_halfcauchy = c(
    list(y = arr(c(-0.9, 0.2, -0.4)), sei = arr(c(0.35, 0.5, 0.3)), tau_prior = "halfcauchy",
         tau_scale = 0.5, mu_prior = NULL),
    reference_case(c(-0.9, 0.2, -0.4), c(0.35, 0.5, 0.3), function(t) dhalfcauchy_log(t, 0.5),
                   tau_points = c(0.1, 0.4, 1), mu_points = c(-1, -0.4, 0.2)))
)

out <- list(r_version = R.version.string, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
