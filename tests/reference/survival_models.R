# Reference values for metaanalysis.survival.models and metaanalysis.survival.ph.
#
# Writes tests/reference/survival_models.json: on survival::lung (arms by sex), survival::veteran
# (arms by trt) and survival::ovarian (arms by rx), with the event indicator coded 0/1,
#   - survreg() intercept-only fits per arm and pooled, for the exponential, Weibull, log-normal
#     and log-logistic distributions: logLik, AIC, coefficient, log(scale), median, vcov;
#   - coxph(Surv(time, status) ~ arm) (Efron ties) and cox.zph() with the transforms "km",
#     "identity", "rank" and "log": chisq, df, p, and the scaled Schoenfeld residuals (x, y, time);
#     the smooth of plot.cox.zph (ns(df = 4), +-2 SE) on a grid of 40 points for "km";
#   - piecewise hazard ratios: survSplit() at declared cut points, then
#     coxph(Surv(tstart, time, status) ~ arm:strata(tgroup));
#   - the time-varying hazard ratio coxph(Surv(time, status) ~ arm + tt(arm),
#     tt = function(x, t, ...) x * log(t)) (and x * t);
#   - an independent maximum-likelihood fit, written here with optim() on the densities written
#     out in R, of the Gompertz, generalised gamma (Prentice) and Royston-Parmar spline (1-3 knots
#     at quantiles of log event times) models: flexsurv is not available, so these check that the
#     Python likelihoods and optimiser agree with a second implementation.
#
# Run from the repository root:   Rscript tests/reference/survival_models.R
# Pinned: R >= 4.2, survival 3.5-3 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(survival))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/survival_models.json"

datasets <- list(
  lung = with(survival::lung, data.frame(time = time, status = status - 1, arm = as.integer(sex == 2))),
  veteran = with(survival::veteran, data.frame(time = time, status = status, arm = as.integer(trt == 2))),
  ovarian = with(survival::ovarian, data.frame(time = futime, status = fustat, arm = as.integer(rx == 2)))
)
cuts <- list(lung = c(180, 365), veteran = c(30, 90), ovarian = c(365))

# ---- parametric fits ----
survreg_fit <- function(d, dist) {
  f <- survreg(Surv(time, status) ~ 1, data = d, dist = dist)
  med <- predict(f, newdata = data.frame(x = 1), type = "quantile", p = 0.5)
  list(loglik = sc(f$loglik[2]), aic = sc(AIC(f)), bic = sc(BIC(f)), n_params = sc(attr(logLik(f), "df")),
       intercept = sc(coef(f)), log_scale = if (dist == "exponential") NA_real_ else sc(log(f$scale)),
       median = sc(med), vcov = arr(vcov(f)), iterations = sc(f$iter))
}

# ---- independent MLE of the models survreg lacks ----
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
# log-likelihood contributions: event * log h(t) - H(t), on the time scale (as survreg's logLik)
loglik_fun <- function(model, d, knots = NULL) {
  t <- d$time; e <- d$status
  switch(model,
    gompertz = function(p) {            # h = b exp(a t), p = (a, log b)
      a <- p[1]; b <- exp(p[2])
      H <- if (abs(a) < 1e-12) b * t else b / a * expm1(a * t)
      sum(e * (log(b) + a * t)) - sum(H)
    },
    gengamma = function(p) {            # Prentice (1974): p = (mu, log sigma, Q), Q != 0
      mu <- p[1]; s <- exp(p[2]); q <- p[3]
      w <- (log(t) - mu) / s
      qi <- 1 / q^2; u <- qi * exp(q * w)
      logf <- log(abs(q)) - log(s) - log(t) + qi * log(qi) + qi * q * w - u - lgamma(qi)
      logS <- if (q > 0) pgamma(u, qi, lower.tail = FALSE, log.p = TRUE) else pgamma(u, qi, log.p = TRUE)
      sum(e * logf + (1 - e) * logS)
    },
    rp = function(p) {                  # log H = B(log t) gamma
      x <- log(t)
      eta <- drop(rcs_basis(x, knots) %*% p)
      deta <- drop(rcs_dbasis(x, knots) %*% p)
      if (any(deta[e == 1] <= 0)) return(-1e100)
      sum(e * (log(deta) - log(t) + eta)) - sum(exp(eta))
    })
}
mle <- function(ll, start) {
  nll <- function(p) { v <- -ll(p); if (is.finite(v)) v else 1e100 }
  best <- list(par = start, value = nll(start))
  keep <- function(o) if (!inherits(o, "try-error") && o$value < best$value) o else best
  for (method in c("BFGS", "Nelder-Mead", "BFGS", "Nelder-Mead", "BFGS")) {
    o <- try(optim(best$par, nll, method = method,
                   control = list(reltol = 1e-16, maxit = 20000)), silent = TRUE)
    best <- keep(o)
  }
  list(par = best$par, loglik = -best$value)
}
other_fits <- function(d) {
  out <- list()
  w <- survreg(Surv(time, status) ~ 1, data = d, dist = "weibull")
  mu <- unname(coef(w)); sig <- w$scale
  lam <- sum(d$status) / sum(d$time)
  g <- mle(loglik_fun("gompertz", d), c(1e-4, log(lam)))
  out$gompertz <- list(params = arr(c(g$par[1], exp(g$par[2]))), loglik = sc(g$loglik))
  q0 <- mle(loglik_fun("gengamma", d), c(mu, log(sig), 0.5))
  q1 <- mle(loglik_fun("gengamma", d), c(mu, log(sig), -0.5))
  gg <- if (q0$loglik >= q1$loglik) q0 else q1
  out$gengamma <- list(params = arr(c(gg$par[1], exp(gg$par[2]), gg$par[3])), loglik = sc(gg$loglik))
  lt <- log(d$time[d$status == 1])
  for (k in 1:3) {
    knots <- quantile(lt, seq(0, 1, length.out = k + 2))
    start <- c(-mu / sig, 1 / sig, rep(0, k))
    r <- mle(loglik_fun("rp", d, unname(knots)), start)
    out[[paste0("rp", k)]] <- list(params = arr(r$par), loglik = sc(r$loglik), knots = arr(unname(knots)))
  }
  out
}

# ---- Cox, PH checks ----
zph_case <- function(d, fit, transform) {
  z <- cox.zph(fit, transform = transform)
  res <- list(chisq = sc(z$table[1, "chisq"]), df = sc(z$table[1, "df"]), p = sc(z$table[1, "p"]),
              x = arr(z$x), y = arr(z$y[, 1]), time = arr(z$time), var = sc(z$var))
  if (transform == "km") {
    # the smooth drawn by plot.cox.zph(df = 4, nsmo = 40, se = TRUE), recomputed as it does
    xx <- z$x; yy <- z$y[, 1]
    pred_x <- seq(min(xx), max(xx), length.out = 40)
    lmat <- splines::ns(c(pred_x, xx), df = 4, intercept = TRUE)
    pmat <- lmat[1:40, ]; xmat <- lmat[-(1:40), ]
    qmat <- qr(xmat)
    yhat <- drop(pmat %*% qr.coef(qmat, yy))
    bk <- backsolve(qmat$qr[1:4, 1:4], diag(4))
    seval <- drop(((pmat %*% bk %*% t(bk)) * pmat) %*% rep(1, 4))
    half <- 2 * sqrt(z$var[1, 1] * seval)
    res$smooth <- list(x = arr(pred_x), fit = arr(yhat), ci_low = arr(yhat - half), ci_high = arr(yhat + half))
  }
  res
}

cases <- list()
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  parts <- list(pooled = d, arm0 = d[d$arm == 0, ], arm1 = d[d$arm == 1, ])
  sr <- list()
  for (pn in names(parts)) {
    sr[[pn]] <- list()
    for (dist in c("exponential", "weibull", "lognormal", "loglogistic"))
      sr[[pn]][[dist]] <- survreg_fit(parts[[pn]], dist)
    sr[[pn]]$other <- other_fits(parts[[pn]])
  }
  fit <- coxph(Surv(time, status) ~ arm, data = d, ties = "efron")
  zph <- list()
  for (tr in c("km", "identity", "rank", "log")) zph[[tr]] <- zph_case(d, fit, tr)
  cox_ph <- list(coef = sc(coef(fit)), se = sc(sqrt(vcov(fit))), loglik = arr(fit$loglik))

  sp <- survSplit(Surv(time, status) ~ ., data = d, cut = cuts[[nm]], episode = "tgroup")
  pw <- coxph(Surv(tstart, time, status) ~ arm:strata(tgroup), data = sp, ties = "efron")
  piecewise <- list(breaks = arr(cuts[[nm]]), coef = arr(coef(pw)), se = arr(sqrt(diag(vcov(pw)))),
                    loglik = sc(pw$loglik[2]))

  tv <- list()
  for (g in c("log", "identity")) {
    gf <- if (g == "log") function(x, t, ...) x * log(t) else function(x, t, ...) x * t
    f <- coxph(Surv(time, status) ~ arm + tt(arm), data = d, tt = gf, ties = "efron")
    tv[[g]] <- list(coef = arr(coef(f)), vcov = arr(vcov(f)), loglik = sc(f$loglik[2]))
  }
  cases[[nm]] <- list(data = list(time = arr(d$time), status = arr(d$status), arm = arr(d$arm)),
                      survreg = sr, cox = cox_ph, zph = zph, piecewise = piecewise, tt = tv)
}

out <- list(versions = list(R_version = paste(R.version$major, R.version$minor, sep = "."),
                            survival_version = as.character(packageVersion("survival"))),
            cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
