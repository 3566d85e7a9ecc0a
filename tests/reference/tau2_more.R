# Reference values for the further tau² estimators of metafor 3.8 (DLIT, SJIT, GENQM) and for the
# types of confint()'s interval for tau² (QP, PL, Wald, Wald.log, Wald.sqrt); and meta-regression
# with the Knapp-Hartung ad hoc correction (test = "adhoc").
#
# Run from the repository root:   Rscript tests/reference/tau2_more.R
# Writes tests/reference/tau2_more.json (17 significant digits; NA and non-finite values as null).
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).
#
# The datasets are those of pooling.R (built here the same way, with the same seeds).
#
# GENQM needs the CompQuadForm package (Farebrother's algorithm), which Debian does not ship. Where
# it is missing (meta.compquadform = false), the GENQM root is found here by the same uniroot()
# call metafor makes, on the distribution of the generalised Q computed by Ruben's (1962) series of
# chi-square distributions; every other number of a GENQM fit is then metafor's, from
# rma(method = "GENQ", weights = w, tau2 = root), which computes the same quantities (estimate, se,
# tests, I², H², QE and GENQ's se.tau2) at a given tau².

suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/tau2_more.json"

# ---- datasets (as pooling.R) ---------------------------------------------------------------------
datasets <- list()
add <- function(name, yi, vi, source = NULL) {  # the datasets' descriptions are pooling.R's
  ok <- !is.na(yi) & !is.na(vi)
  datasets[[name]] <<- list(yi = arr(yi[ok]), vi = arr(vi[ok]))
}
source("tests/reference/_uni_datasets.R")

safe <- function(expr) tryCatch(expr, error = function(e) structure(list(msg = conditionMessage(e)), class = "fail"))
genq_weights <- function(vi) 1 / sqrt(vi)
has_cqf <- nzchar(system.file(package = "CompQuadForm"))  # optional: see the header

# ---- GENQM without CompQuadForm: Ruben's series and metafor's root search -------------------------
# P(sum_j lambda_j chi2_1 > q) for positive lambda_j by Ruben's (1962) series of chi-square
# distributions, P(Q <= q) = sum_n c_n P(chi2_{m + 2n} <= q / beta) with beta = min(lambda): then
# every c_n >= 0 and sum c_n = 1, so the terms left off weigh at most 1 - sum c_n and the series is
# summed until that and the chi-square term are negligible.
ruben_upper <- function(q, lambda, eps = 1e-15, nmax = 200000L) {
  m <- length(lambda)
  beta <- min(lambda)
  r <- 1 - beta / lambda
  x <- q / beta
  c0 <- exp(0.5 * sum(log(beta / lambda)))
  total <- c0 * pchisq(x, m)
  csum <- c0
  cvec <- c0
  gpow <- r
  g <- numeric(0)
  n <- 0L
  while (n < nmax) {
    n <- n + 1L
    g[n] <- 0.5 * sum(gpow)
    gpow <- gpow * r
    cn <- sum(g[n:1] * cvec[1:n]) / n
    cvec[n + 1L] <- cn
    csum <- csum + cn
    term <- cn * pchisq(x, m + 2 * n)
    total <- total + term
    if ((1 - csum) < eps || (term < eps * total && pchisq(x, m + 2 * n) < eps)) break
  }
  1 - total
}
genqm_root <- function(yi, vi, w) {
  k <- length(yi); p <- 1
  X <- cbind(rep(1, k))
  A <- diag(w, nrow = k)
  P <- A - A %*% X %*% solve(crossprod(X, A) %*% X) %*% crossprod(X, A)
  ymc <- yi - mean(yi)
  Q <- c(crossprod(ymc, P) %*% ymc)
  upper <- function(t) {
    S <- diag(sqrt(vi + t), nrow = k)
    lam <- eigen(S %*% P %*% S, symmetric = TRUE, only.values = TRUE)$values[seq_len(k - p)]
    ruben_upper(Q, lam)
  }
  tau2.min <- 0
  tau2.max <- max(100, 10 * mad(yi)^2)
  if (upper(tau2.min) > 0.5) return(tau2.min)
  if (upper(tau2.max) < 0.5) stop("Value of 'tau2.max' too low.")
  uniroot(function(t) (1 - upper(t)) - 0.5, interval = c(tau2.min, tau2.max),
          tol = .Machine$double.eps^0.25, maxiter = 100)$root
}

fit_method <- function(yi, vi, m, tt, control = list()) {
  if (m == "GENQM") {
    w <- genq_weights(vi)
    if (has_cqf) return(rma(yi, vi, weights = w, method = "GENQM", test = tt, control = control))
    root <- genqm_root(yi, vi, w)
    return(rma(yi, vi, weights = w, method = "GENQ", tau2 = root, test = tt))
  }
  rma(yi, vi, method = m, test = tt, control = control)
}

methods <- c("DLIT", "SJIT", "GENQM")
tests <- c("z", "t", "knha", "adhoc")
# metafor stops after 100 iterations; our remedy (as for the other iterative estimators) is to
# allow 1000, so where metafor stops, the fit with maxiter = 1000 is recorded beside the error.
remedy <- list(maxiter = 1000)

one_fit <- function(fit) {
  pr <- predict(fit)
  list(estimate = c(fit$beta), se = fit$se, zval = fit$zval, pval = fit$pval, ci.lb = fit$ci.lb,
       ci.ub = fit$ci.ub, pi.lb = if (is.null(pr$pi.lb)) NA else pr$pi.lb,
       pi.ub = if (is.null(pr$pi.ub)) NA else pr$pi.ub)
}

pool_ref <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi)
  out <- list()
  for (m in methods) {
    entry <- list()
    first <- safe(suppressWarnings(fit_method(yi, vi, m, "z")))
    control <- list()
    if (inherits(first, "fail")) {
      entry$error <- first$msg
      if (m == "GENQM") { out[[m]] <- entry; next }
      control <- remedy
      first <- safe(suppressWarnings(fit_method(yi, vi, m, "z", control)))
      if (inherits(first, "fail")) { entry$remedy_error <- first$msg; out[[m]] <- entry; next }
      entry$maxiter <- 1000
    }
    entry$tests <- list()
    for (tt in tests) entry$tests[[tt]] <- one_fit(suppressWarnings(fit_method(yi, vi, m, tt, control)))
    entry$tau2 <- first$tau2; entry$se.tau2 <- first$se.tau2; entry$I2 <- first$I2; entry$H2 <- first$H2
    entry$QE <- first$QE; entry$QEp <- first$QEp
    if (m != "GENQM" && first$k > 1) {
      ci <- safe(suppressWarnings(confint(first)))
      if (!inherits(ci, "fail")) {
        r <- ci$random
        entry$tau2.ci <- arr(r["tau^2", 2:3]); entry$I2.ci <- arr(r["I^2(%)", 2:3]); entry$H2.ci <- arr(r["H^2", 2:3])
      }
    }
    out[[m]] <- entry
  }
  pool_ref[[name]] <- out
}

# ---- confint(type = ...) for the interval of tau² --------------------------------------------------
ci_types <- c("QP", "PL", "Wald", "Wald.log", "Wald.sqrt")
ci_methods <- c("REML", "ML", "DL", "PM", "EB", "SJ")
ci_sets <- c("bcg", "hackshaw1998", "normand1999", "raudenbush1985", "li2007", "gen03_k3_tau2_0",
             "gen04_k3_tau2_2", "gen07_k5_tau2_10", "gen13_k12_tau2_5", "gen16_k20_tau2_0.5",
             "gen21_k50_tau2_0.25", "gen_identical_yi", "gen_vi_ratio")
confint_ref <- list()
for (name in ci_sets) {
  d <- datasets[[name]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi)
  per <- list()
  for (m in ci_methods) for (lvl in c(95, 90)) {
    fit <- safe(suppressWarnings(rma(yi, vi, method = m, level = lvl)))
    key <- paste(m, lvl, sep = "_")
    if (inherits(fit, "fail")) { per[[key]] <- list(error = fit$msg); next }
    entry <- list(tau2 = fit$tau2, se.tau2 = fit$se.tau2)
    for (ty in ci_types) {
      ci <- safe(suppressWarnings(confint(fit, type = ty)))
      if (inherits(ci, "fail")) { entry[[ty]] <- list(error = ci$msg); next }
      r <- ci$random
      entry[[ty]] <- list(tau2 = arr(r["tau^2", ]), tau = arr(r["tau", ]), I2 = arr(r["I^2(%)", ]),
                          H2 = arr(r["H^2", ]))
    }
    per[[key]] <- entry
  }
  confint_ref[[name]] <- per
}

# ---- the Knapp-Hartung ad hoc correction in meta-regression (test = "adhoc") ----------------------
adhoc_ref <- list()
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
for (m in c("REML", "DL")) for (tt in c("knha", "adhoc")) {
  f <- rma(yi, vi, mods = ~ ablat, data = bcg, method = m, test = tt)
  adhoc_ref[[paste("bcg_ablat", m, tt, sep = "_")]] <- list(coef = arr(f$beta), se = arr(f$se), zval = arr(f$zval),
    pval = arr(f$pval), ci.lb = arr(f$ci.lb), ci.ub = arr(f$ci.ub), QM = f$QM, QMp = f$QMp)
  d <- datasets[["gen10_k8_tau2_0.01"]]  # little heterogeneity: the Knapp-Hartung scale is below 1
  x <- seq_along(d$yi)
  f <- rma(as.numeric(d$yi), as.numeric(d$vi), mods = ~ x, method = m, test = tt)
  adhoc_ref[[paste("gen10_x", m, tt, sep = "_")]] <- list(coef = arr(f$beta), se = arr(f$se), zval = arr(f$zval),
    pval = arr(f$pval), ci.lb = arr(f$ci.lb), ci.ub = arr(f$ci.ub), QM = f$QM, QMp = f$QMp)
}

res <- list(meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                        script = "tests/reference/tau2_more.R", compquadform = has_cqf,
                        genqm_weights = "1/sqrt(vi)"),
            datasets = datasets, pool = pool_ref, confint = confint_ref,
            regression_adhoc = adhoc_ref)
writeLines(to_json(res), out_path)
cat("wrote", out_path, "\n")
