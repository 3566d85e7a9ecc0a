# Reference values for the survival models of metaanalysis.survival.models that have no survreg
# counterpart: Gompertz, generalised gamma (Prentice) and Royston-Parmar splines with 1-3 knots.
#
# Writes tests/reference/survival_models_other.json: on the data sets and arms of
# survival_models.R (survival::lung by sex, survival::veteran by trt, survival::ovarian by rx; the
# event coded 0/1; pooled, arm 0 and arm 1), for each of gompertz, gengamma, rp1, rp2, rp3:
#   - the maximum likelihood fit: optim() (BFGS and Nelder-Mead alternated, reltol 1e-16) on the
#     log-likelihood written out here (events log h(t) - H(t), censored -H(t): the same densities
#     as survival_models.R), finished by Newton steps on numDeriv's gradient and Hessian;
#   - logLik, the parameters in the Python package's parameterisation (gompertz: shape, rate with
#     h = rate exp(shape t); gengamma: mu, log sigma, Q; rpK: the coefficients of
#     log H = B(log t) gamma with the restricted cubic basis, knots at quantiles of log event times)
#     and their covariance, the inverse of numDeriv::hessian of the negative log-likelihood there
#     (optimHess' fixed steps were inaccurate for the Gompertz model's small parameters), taken in
#     whitened coordinates (see whiten(): the spline likelihoods are ill-conditioned);
#   - the median (uniroot on H(t) = log 2) and its 95% delta-method interval on the log scale
#     (var log t_m = dH' V dH / (h(t_m) t_m)^2, dH the gradient of H(t_m) in the parameters, as the
#     package computes it);
#   - the restricted mean, integrate() of S(t) from 0 to the last time of the data fitted
#     (fit_survival_models' default horizon for one arm), and the unrestricted mean (integrate()
#     to infinity; null where the tail makes it infinite: a Gompertz shape < 0, a spline whose
#     log H has slope <= 0 beyond the last knot, a generalised gamma with 1/Q^2 + sigma/Q <= 0);
#   - S(t) and h(t) at four fixed times per data set (the last beyond follow-up), with the
#     standard errors of log H(t) and log h(t) by the delta method (numDeriv::jacobian, in the
#     whitened coordinates) and the 95% bands the package draws: exp(-exp(log H +- z se)) for S,
#     exp(log h -+ z se) for h.
# A fit with no interior maximum (the likelihood climbs without bound: ovarian arm 1, 13 patients
# and 5 events, gengamma Q -> -inf and rp3) has converged = false and only its params and logLik.
#
# Run from the repository root:   Rscript tests/reference/survival_models_other.R
# Pinned: R >= 4.2, survival 3.5-3 (the data, and survreg's Weibull fit as a start), numDeriv
# (the versions used are recorded in the JSON). No random numbers; takes about 3 s.

suppressPackageStartupMessages({library(survival); library(numDeriv)})
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/survival_models_other.json"

datasets <- list(
  lung = with(survival::lung, data.frame(time = time, status = status - 1, arm = as.integer(sex == 2))),
  veteran = with(survival::veteran, data.frame(time = time, status = status, arm = as.integer(trt == 2))),
  ovarian = with(survival::ovarian, data.frame(time = futime, status = fustat, arm = as.integer(rx == 2)))
)
# the times S and h are reported at; the last is beyond every arm's follow-up (an extrapolation)
times <- list(lung = c(90, 180, 365, 1500), veteran = c(30, 90, 180, 1500), ovarian = c(180, 365, 730, 2000))
z <- qnorm(0.975)

# ---- the models: log H(p, t), log h(p, t) in the Python package's parameterisation ----
rcs_basis <- function(x, knots) {
  nk <- length(knots); kmin <- knots[1]; kmax <- knots[nk]
  b <- cbind(1, x)
  if (nk > 2) for (j in 2:(nk - 1)) {
    lam <- (kmax - knots[j]) / (kmax - kmin)
    b <- cbind(b, pmax(x - knots[j], 0)^3 - lam * pmax(x - kmin, 0)^3 - (1 - lam) * pmax(x - kmax, 0)^3)
  }
  b
}
rcs_dbasis <- function(x, knots) {
  nk <- length(knots); kmin <- knots[1]; kmax <- knots[nk]
  b <- cbind(0, rep(1, length(x)))
  if (nk > 2) for (j in 2:(nk - 1)) {
    lam <- (kmax - knots[j]) / (kmax - kmin)
    b <- cbind(b, 3 * pmax(x - knots[j], 0)^2 - 3 * lam * pmax(x - kmin, 0)^2 - 3 * (1 - lam) * pmax(x - kmax, 0)^2)
  }
  b
}
gg_parts <- function(p, t) {             # Prentice (1974): p = (mu, log sigma, Q), Q != 0
  mu <- p[1]; s <- exp(p[2]); q <- p[3]
  w <- (log(t) - mu) / s
  qi <- 1 / q^2; u <- qi * exp(q * w)
  logf <- log(abs(q)) - log(s) - log(t) + qi * log(qi) + qi * q * w - u - lgamma(qi)
  logS <- if (q > 0) pgamma(u, qi, lower.tail = FALSE, log.p = TRUE) else pgamma(u, qi, log.p = TRUE)
  list(logf = logf, logS = logS)
}
model_funs <- function(model, knots = NULL) {
  switch(model,
    gompertz = list(                      # p = (shape, rate): h = rate exp(shape t)
      logH = function(p, t) {
        a <- p[1]; b <- p[2]
        log(if (abs(a) < 1e-12) b * t else b / a * expm1(a * t))
      },
      logh = function(p, t) log(p[2]) + p[1] * t),
    gengamma = list(
      logH = function(p, t) log(-gg_parts(p, t)$logS),
      logh = function(p, t) { g <- gg_parts(p, t); g$logf - g$logS }),
    rp = list(                            # log H = B(log t) gamma
      logH = function(p, t) drop(rcs_basis(log(t), knots) %*% p),
      logh = function(p, t) {
        x <- log(t)
        log(drop(rcs_dbasis(x, knots) %*% p)) - log(t) + drop(rcs_basis(x, knots) %*% p)
      }))
}
# the log-likelihood in the package's parameters (events log h - H, censored -H; for the
# generalised gamma events log f and censored log S, the same sum written as survival_models.R does)
loglik_fun <- function(model, d, mf, knots = NULL) {
  t <- d$time; e <- d$status
  if (model == "gengamma") return(function(p) { g <- gg_parts(p, t); sum(e * g$logf + (1 - e) * g$logS) })
  if (model == "rp") {
    # (the slope of log H enters at the events only, as in the package's likelihood)
    ev <- e == 1
    x <- log(t); B <- rcs_basis(x, knots); D <- rcs_dbasis(x, knots)[ev, , drop = FALSE]
    return(function(p) {
      deta <- drop(D %*% p)
      if (any(deta <= 0)) return(-Inf)
      eta <- drop(B %*% p)
      sum(log(deta) - x[ev] + eta[ev]) - sum(exp(eta))
    })
  }
  function(p) { if (p[2] <= 0) return(-Inf); sum(e * mf$logh(p, t)) - sum(exp(mf$logH(p, t))) }
}

# ---- maximum likelihood: optim, then Newton on numDeriv's derivatives ----
# numDeriv's Hessian (Richardson extrapolation over 4 halvings) from a first step of 1e-3 relative:
# its default 0.1 steps a spline's coefficients out of the model (a decreasing H)
hess <- function(f, x) numDeriv::hessian(f, x, method.args = list(d = 1e-3, r = 4))
# The likelihoods are ill-conditioned (the spline coefficients are strongly correlated), so that
# element-wise errors of 1e-9 in the Hessian became 1e-6 to 1e-3 in the standard errors; and
# numDeriv's relative steps are too small for parameters near 0 (a spline coefficient of 0.008).
# The covariance is therefore numDeriv's Hessian in whitened coordinates q, p = p_hat + L q with
# L L' a first estimate of the covariance (the Hessian there is close to the identity), from steps
# of 0.3 standard errors along the principal axes; delta-method derivatives are taken in q too.
whiten <- function(f, x) {
  L <- t(chol(solve(hess(f, x))))
  hq <- numDeriv::hessian(function(q) f(x + drop(L %*% q)), rep(0, length(x)), method.args = list(eps = 0.3, r = 4))
  list(L = L, hq = hq, Vq = solve(hq), V = L %*% solve(hq, t(L)))
}
# the Jacobian of fun(p, ...) in the parameters, taken in the whitened coordinates: J_q = J_p L
jac_q <- function(fun, p, L) numDeriv::jacobian(function(q) fun(p + drop(L %*% q)), rep(0, length(p)))
# delta-method variances of fun(p) (a vector): diag(J_q Vq J_q')
delta_var <- function(fun, p, W) { J <- jac_q(fun, p, W$L); rowSums((J %*% W$Vq) * J) }
# `to_par` maps the working parameters optim moves (gompertz: log rate) to the package's
mle <- function(ll, start, to_par = identity) {
  nll <- function(w) { v <- -ll(to_par(w)); if (is.finite(v)) v else 1e100 }
  best <- list(par = start, value = nll(start))
  keep <- function(o) if (!inherits(o, "try-error") && o$value < best$value) o else best
  for (method in c("BFGS", "Nelder-Mead", "BFGS", "Nelder-Mead", "BFGS")) {
    # (trial points outside the model give NaN, e.g. log of a negative hazard: nll() makes them 1e100)
    o <- try(suppressWarnings(optim(best$par, nll, method = method,
                                    control = list(reltol = 1e-16, maxit = 20000))), silent = TRUE)
    best <- keep(o)
  }
  # Newton with step halving: optim's stopping rule on the log-likelihood leaves the parameters of
  # flat directions ~1e-6 short; Newton on Richardson-extrapolated derivatives goes on until a
  # full step is below 1e-8 standard errors
  w <- best$par; v <- best$value; newton_ok <- FALSE
  for (it in 1:50) {
    g <- numDeriv::grad(nll, w); h <- hess(nll, w)
    ev <- try(eigen(h, symmetric = TRUE, only.values = TRUE)$values, silent = TRUE)
    if (inherits(ev, "try-error") || any(!is.finite(ev)) || min(ev) <= 0) break
    step <- solve(h, g); s <- 1
    # the size of a step that matters: standard errors (the gradient's rounding noise moves a
    # full Newton step by ~1e-10 of them, so a relative bound alone is never met)
    se <- sqrt(diag(solve(h)))
    small <- all(abs(step) <= 1e-8 * se)
    while (s > 1e-10) { wn <- w - s * step; vn <- nll(wn); if (vn <= v) break; s <- s / 2 }
    if (s <= 1e-10) { newton_ok <- small; break }
    done <- small || max(abs(wn - w) / (1 + abs(w))) < 1e-12
    w <- wn; v <- vn
    if (done) { newton_ok <- TRUE; break }
  }
  list(par = to_par(w), loglik = -v, newton_ok = newton_ok)
}

# ---- values derived from a fit ----
derived <- function(mf, p, W, d, tt, knots = NULL) {
  H <- function(pp, t) exp(mf$logH(pp, t))
  S <- function(t) exp(-H(p, t))
  horizon <- max(d$time)
  # median: H(t_m) = log 2, solved for log t_m
  f <- function(u) H(p, exp(u)) - log(2)
  lo <- log(min(d$time)); hi <- log(max(d$time))
  while (f(lo) > 0) lo <- lo - 1
  med <- NA_real_; med_lo <- NA_real_; med_hi <- NA_real_
  while (f(hi) < 0 && hi < 50) hi <- hi + 1
  if (f(hi) >= 0) {
    u <- uniroot(f, c(lo, hi), tol = 1e-15, maxiter = 1000)$root
    u <- uniroot(f, c(u - 1e-6, u + 1e-6), tol = 1e-15, maxiter = 1000)$root
    med <- exp(u)
    # d log t_m = -dH(t_m) / (h(t_m) t_m), dH the change of H(t_m) with the parameters
    se_log_med <- sqrt(delta_var(function(pp) H(pp, med), p, W)) / (exp(mf$logh(p, med)) * med)
    med_lo <- med * exp(-z * se_log_med); med_hi <- med * exp(z * se_log_med)
  }
  # restricted mean: the area under S from 0 to the last time, in pieces at the knots
  brk <- sort(unique(c(0, if (!is.null(knots)) exp(knots)[exp(knots) < horizon], horizon)))
  rmean <- sum(vapply(seq_len(length(brk) - 1), function(i)
    integrate(S, brk[i], brk[i + 1], rel.tol = 1e-13, abs.tol = 0, subdivisions = 2000L)$value, 0))
  # unrestricted mean, where the tail allows one
  finite <- switch(mf$name,
    gompertz = p[1] > 0,
    gengamma = 1 / p[3]^2 + exp(p[2]) / p[3] > 0,
    rp = { x <- max(knots) + c(1, 2); diff(mf$logH(p, exp(x))) > 0 })
  mean <- NA_real_
  if (finite) {
    # over u = log t; beyond exp(u) = Inf (u > 709.8) the integrand of a finite mean is 0
    tail <- integrate(function(u) { t <- exp(u); ifelse(is.finite(t), S(t) * t, 0) }, log(horizon), Inf,
                      rel.tol = 1e-13, abs.tol = 0, subdivisions = 2000L)$value
    mean <- rmean + tail
  }
  # survival and hazard with their delta-method standard errors and bands
  lH <- mf$logH(p, tt); lh <- mf$logh(p, tt)
  seH <- sqrt(delta_var(function(pp) mf$logH(pp, tt), p, W))
  seh <- sqrt(delta_var(function(pp) mf$logh(pp, tt), p, W))
  list(horizon = sc(horizon), median = sc(med), median_ci_low = sc(med_lo), median_ci_high = sc(med_hi),
       restricted_mean = sc(rmean), mean = sc(mean), mean_finite = finite,
       times = arr(tt), survival = arr(exp(-exp(lH))), se_log_cumhaz = arr(seH),
       survival_ci_low = arr(exp(-exp(lH + z * seH))), survival_ci_high = arr(exp(-exp(lH - z * seH))),
       hazard = arr(exp(lh)), se_log_hazard = arr(seh),
       hazard_ci_low = arr(exp(lh - z * seh)), hazard_ci_high = arr(exp(lh + z * seh)))
}

fit_model <- function(model, d, tt, knots = NULL, starts) {
  kind <- if (startsWith(model, "rp")) "rp" else model
  mf <- model_funs(kind, knots); mf$name <- kind
  ll <- loglik_fun(kind, d, mf, knots)
  to_par <- if (kind == "gompertz") function(w) c(w[1], exp(w[2])) else identity
  fits <- lapply(starts, function(s) mle(ll, s, to_par))
  r <- fits[[which.max(vapply(fits, function(f) f$loglik, 0))]]
  p <- r$par
  # covariance: numDeriv's Hessian of -logLik (whitened, see whiten()); where the likelihood has
  # no maximum the Hessian is not positive definite or the steps leave the model: try()
  W <- try(whiten(function(pp) -ll(pp), p), silent = TRUE)
  ok <- r$newton_ok && !inherits(W, "try-error") && all(is.finite(W$V)) &&
    all(eigen(W$hq, symmetric = TRUE)$values > 0)
  V <- if (ok) W$V else NULL
  # a flat direction (SE a hundred times the parameter's size) is no maximum worth reporting
  if (ok) ok <- all(sqrt(diag(V)) < 100 * (1 + abs(p)))
  out <- list(converged = ok, params = arr(p), loglik = sc(r$loglik))
  if (!is.null(knots)) out$knots <- arr(knots)
  if (!ok) return(out)
  c(out, list(vcov = arr(V), se = arr(sqrt(diag(V)))), derived(mf, p, W, d, tt, knots))
}

other_fits <- function(d, tt) {
  out <- list()
  w <- survreg(Surv(time, status) ~ 1, data = d, dist = "weibull")
  mu <- unname(coef(w)); sig <- w$scale
  lam <- sum(d$status) / sum(d$time)
  out$gompertz <- fit_model("gompertz", d, tt, starts = list(c(1e-4, log(lam))))
  out$gengamma <- fit_model("gengamma", d, tt, starts = list(c(mu, log(sig), 0.5), c(mu, log(sig), -0.5)))
  lt <- log(d$time[d$status == 1])
  for (k in 1:3) {
    knots <- unname(quantile(lt, seq(0, 1, length.out = k + 2)))
    out[[paste0("rp", k)]] <- fit_model(paste0("rp", k), d, tt, knots,
                                        starts = list(c(-mu / sig, 1 / sig, rep(0, k))))
  }
  out
}

cases <- list()
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  parts <- list(pooled = d, arm0 = d[d$arm == 0, ], arm1 = d[d$arm == 1, ])
  cases[[nm]] <- list(data = list(time = arr(d$time), status = arr(d$status), arm = arr(d$arm)),
                      fits = lapply(parts, other_fits, tt = times[[nm]]))
}

out <- list(versions = list(R_version = paste(R.version$major, R.version$minor, sep = "."),
                            survival_version = as.character(packageVersion("survival")),
                            numderiv_version = as.character(packageVersion("numDeriv"))),
            level = sc(95), cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
