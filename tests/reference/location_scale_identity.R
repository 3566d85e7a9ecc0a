# Reference values for metaanalysis.pooling.location_scale.rma_ls with link = "identity"
# (tau²_i = z_i' alpha, every tau²_i >= 0), metafor's rma(yi, vi, mods = ..., scale = ...,
# link = "identity").
#
# metafor fits the identity link with constrOptim (a barrier method), which stops about 1e-4
# (relative) from the optimum even at reltol 1e-14. Each case therefore records two things:
#   metafor:  metafor's own fit, as it comes (compared loosely; ours must reach a log-likelihood
#             at least as high);
#   expected: the optimum, found here by Newton steps from metafor's estimate on metafor's own
#             likelihood function (metafor:::.ll.rma.ls) with numDeriv's gradient and Hessian;
#             where metafor's fit holds some studies' tau² at 0 (the edge of the parameter
#             space), the steps are taken within that edge (alpha restricted to the null space
#             of those studies' rows of Z), and standard errors are NA, as metafor gives them.
#             The location part comes from metafor refitted with alpha fixed at the optimum; the
#             scale's standard errors from the inverse of numDeriv's Hessian, as metafor
#             computes them, and its z, p, intervals and QS from those by the usual formulas.
#
# Run from the repository root:   Rscript tests/reference/location_scale_identity.R
# Pinned: R >= 4.2, metafor 3.8-1, numDeriv (the versions used are recorded in the JSON).

suppressPackageStartupMessages({library(metafor); library(numDeriv)})

out_path <- "tests/reference/location_scale_identity.json"
source("tests/reference/_json_writer.R")

bd <- dat.bangertdrowns2004
bd <- bd[!is.na(bd$meta) & !is.na(bd$length), ]
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
sets <- list(bangertdrowns = list(yi = bd$yi, vi = bd$vi, meta = bd$meta, length = bd$length),
             bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat,
                        year = bcg$year, alloc = as.character(bcg$alloc)))

fits <- list(
  bcg_alloc_reml = list(dataset = "bcg", mods = "~ 1", scale = "~ alloc", method = "REML"),
  bcg_ablat_ml = list(dataset = "bcg", mods = "~ 1", scale = "~ ablat", method = "ML"),
  meta_meta_reml = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                        method = "REML"),
  meta_length_t = list(dataset = "bangertdrowns", mods = "~ meta + length", scale = "~ length",
                       method = "REML", test = "t"),
  meta_meta_knha = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                        method = "ML", test = "knha"),
  bcg_ablat_ablat_edge = list(dataset = "bcg", mods = "~ ablat", scale = "~ ablat",
                              method = "REML"),
  bcg_year_edge = list(dataset = "bcg", mods = "~ 1", scale = "~ year", method = "REML")
)

negll <- function(a, d, X, Z, reml)
  metafor:::.ll.rma.ls(a, yi = d$yi, vi = d$vi, X = X, Z = Z, reml = reml, k = nrow(d),
                       pX = ncol(X), alpha.val = rep(NA, ncol(Z)), beta.val = rep(NA, ncol(X)),
                       verbose = FALSE, digits = c(est = 4, fit = 4), REMLf = TRUE,
                       link = "identity", mZ = NULL, alpha.min = rep(-Inf, ncol(Z)),
                       alpha.max = rep(Inf, ncol(Z)), alpha.transf = FALSE, tau2.min = 0,
                       tau2.max = Inf, optbeta = FALSE)

cases <- list()
for (id in names(fits)) {
  f <- fits[[id]]
  d <- as.data.frame(sets[[f$dataset]])
  test <- if (is.null(f$test)) "z" else f$test
  reml <- f$method == "REML"
  res <- suppressWarnings(rma(yi, vi, mods = as.formula(f$mods), scale = as.formula(f$scale),
                              data = d, method = f$method, test = test, link = "identity",
                              control = list(reltol = 1e-14)))
  X <- model.matrix(as.formula(f$mods), data = d)
  Z <- model.matrix(as.formula(f$scale), data = d)
  q <- ncol(Z)
  a <- c(res$alpha)
  edge <- which(res$tau2 < 1e-6 * mean(d$vi))
  if (length(edge)) {
    A <- Z[edge, , drop = FALSE]
    qrA <- qr(t(A))
    N <- qr.Q(qrA, complete = TRUE)[, (qrA$rank + 1):q, drop = FALSE]
  } else {
    N <- diag(q)
  }
  a0 <- a
  # on the edge, rounding can put a held tau² at -1e-17, where metafor's likelihood is -Inf:
  # those studies' tau² is set to 1e-13 instead (the log-likelihood moves by about as much)
  lift <- if (length(edge)) c(MASS::ginv(A) %*% rep(1e-13, length(edge))) else 0
  at <- function(u) { a <- a0 + c(N %*% u)
                      if (length(edge)) a <- a - c(MASS::ginv(A) %*% (A %*% a)) + lift
                      a }
  fr <- function(u) negll(at(u), d, X, Z, reml)
  u <- rep(0, ncol(N))
  for (i in 1:6) u <- u - solve(hessian(fr, u), grad(fr, u))
  a <- at(u)
  stopifnot(all(Z %*% a >= -1e-12), max(abs(grad(fr, u))) < 1e-7)
  fixed <- rma(yi, vi, mods = as.formula(f$mods), scale = as.formula(f$scale), data = d,
               method = f$method, test = test, link = "identity", alpha = a)
  df_a <- if (test == "z") NA else nrow(d) - q
  if (length(edge)) {
    se_a <- rep(NA_real_, q); qs <- NA_real_; qs_p <- NA_real_
  } else {
    va <- solve(hessian(negll, a, d = d, X = X, Z = Z, reml = reml))
    se_a <- sqrt(diag(va))
    nb <- which(colnames(Z) != "(Intercept)")
    qs <- c(t(a[nb]) %*% solve(va[nb, nb, drop = FALSE]) %*% a[nb])
    qs_p <- if (test == "z") pchisq(qs, length(nb), lower.tail = FALSE)
            else { qs <- qs / length(nb); pf(qs, length(nb), df_a, lower.tail = FALSE) }
  }
  z_a <- a / se_a
  crit <- if (test == "z") qnorm(0.975) else qt(0.975, df_a)
  p_a <- if (test == "z") 2 * pnorm(-abs(z_a)) else 2 * pt(-abs(z_a), df_a)
  cases[[id]] <- c(f, list(
    edge_studies = arr(edge),
    metafor = list(alpha = arr(res$alpha), tau2 = arr(res$tau2),
                   loglik = sc(res$fit.stats["ll", if (reml) "REML" else "ML"]),
                   se_alpha = arr(res$se.alpha)),
    expected = list(
      alpha = arr(a), se_alpha = arr(se_a), zval_alpha = arr(z_a), pval_alpha = arr(p_a),
      ci_low_alpha = arr(a - crit * se_a), ci_high_alpha = arr(a + crit * se_a),
      qs = sc(qs), qs_pvalue = sc(qs_p), tau2 = arr(pmax(Z %*% a, 0)),
      loglik = -fr(u),
      beta = arr(fixed$beta), se = arr(fixed$se), zval = arr(fixed$zval), pval = arr(fixed$pval),
      ci_low = arr(fixed$ci.lb), ci_high = arr(fixed$ci.ub), qe = sc(fixed$QE),
      qm = sc(fixed$QM), qm_pvalue = sc(fixed$QMp))))
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            numderiv_version = as.character(packageVersion("numDeriv")),
            generated_by = "tests/reference/location_scale_identity.R", datasets = sets,
            cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
