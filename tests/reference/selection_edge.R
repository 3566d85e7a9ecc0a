# Edge cases of selmodel for tests/test_selection.py (metaanalysis.pooling.selection): two data
# sets on which the beta selection model's likelihood has a flat ridge at tau^2 near 0. metafor's
# BFGS converges there (in 90 and fewer than 100 iterations) while ours, whose path differs from
# R's by rounding of 1e-14 in the likelihood, reaches optim's 100 iterations and is continued.
#
# Writes tests/reference/selection_edge.json: for each data set
#  - fit: selmodel(rma(yi, vi, method = "REML"), type = "beta") as selection.R records it, with
#    metafor's warnings and optim's counts and convergence code;
#  - points: metafor's own log-likelihood with every parameter fixed (selmodel of an ML fit with
#    tau^2 fixed, delta = and beta = given; optim then has nothing to move) at metafor's estimate
#    and at beta -/+ 2e-4, each with metafor's integration settings (rel.tol = eps^0.25) and with
#    tight ones (rel.tol = abs.tol = 1e-10, 1000 subdivisions). On ridge_k12 metafor's maximum is
#    a spike of the quadrature's error: 2.5e-3 above its neighbours, gone with tight integrals;
#  - ridge_k12 only, second_mode: the fit from another start (beta 0.49, tau^2 0.0087, delta 1.8
#    and 0.6), a higher maximum than the default fit's: the likelihood has two modes.
# The data come from a randomised comparison of the package with metafor (normal effects,
# k = 12 and 8); they are written here with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/selection_edge.R
# Pinned: R >= 4.2, metafor 3.8-1, numDeriv (selmodel's Hessian); the versions used are recorded.

suppressPackageStartupMessages(library(metafor))
suppressPackageStartupMessages(library(numDeriv))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/selection_edge.json"

datasets <- list(
  ridge_k12 = list(
    yi = c(0.22368207104806714, -0.37984049512026025, 0.5696112190652133, -0.6564442906682924,
           -0.027017231479865095, 0.43401604752380696, 0.268784612947459, 0.36128552893773236,
           0.11916028571298617, -0.11211251726033988, 0.10849773411112189, 0.14348663870517217),
    vi = c(0.09472532879503642, 0.1711692289681505, 0.15791871427259424, 0.14463456419734663,
           0.046455474349751946, 0.0389522117041326, 0.1364247929957086, 0.16879950517577977,
           0.1293742385837232, 0.13268082881751736, 0.15606727912938095, 0.006362250152476725)),
  ridge_k8 = list(
    yi = c(0.28438522762182145, 0.6054664023358082, 0.33114216485097114, 0.11703764079118437,
           0.03488597625827295, 0.8229882708636284, 0.7514012478321184, -0.18656377784882347),
    vi = c(0.14401352253975558, 0.08042046917661104, 0.03765958838952142, 0.15135382837229802,
           0.14088994058708088, 0.1108580327227688, 0.14998171005383315, 0.10134240277793356))
)

sel_summary <- function(s) list(
  estimate = sc(s$beta), se = sc(s$se), statistic = sc(s$zval), pvalue = sc(s$pval),
  ci_low = sc(s$ci.lb), ci_high = sc(s$ci.ub), tau2 = sc(s$tau2), se_tau2 = sc(s$se.tau2),
  delta = arr(s$delta), se_delta = arr(s$se.delta),
  lrt = sc(s$LRT), lrt_df = sc(s$LRTdf), lrt_pvalue = sc(s$LRTp),
  lrt_tau2 = sc(s$LRT.tau2), lrt_tau2_pvalue = sc(s$LRTp.tau2),
  loglik = sc(s$ll), loglik0 = sc(s$ll0))

# optim's result as metafor receives it (selmodel does not keep its counts): .chkconv is handed
# opt.res right after the main optimisation
last_opt <- NULL
invisible(suppressMessages(trace(".chkconv", where = asNamespace("metafor"), print = FALSE,
                                 tracer = quote(last_opt <<- opt.res))))

# a selmodel fit, its warnings kept
fit_warn <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
  })
  list(value = value, warnings = warns)
}

tight <- list(rel.tol = 1e-10, abs.tol = 1e-10, subdivisions = 1000L)

# metafor's log-likelihood at (beta, tau2, delta): every parameter fixed
ll_at <- function(d, beta, tau2, delta, intCtrl = NULL) {
  r0 <- rma(d$yi, d$vi, tau2 = tau2, method = "ML")
  ctrl <- if (is.null(intCtrl)) list() else list(intCtrl = intCtrl)
  z <- suppressWarnings(selmodel(r0, type = "beta", delta = delta, beta = beta, control = ctrl))
  sc(z$ll)
}

out <- list(r_version = paste(R.version$major, R.version$minor, sep = "."),
            metafor_version = as.character(packageVersion("metafor")),
            datasets = lapply(datasets, function(d) list(yi = arr(d$yi), vi = arr(d$vi))),
            cases = list())

for (nm in names(datasets)) {
  d <- datasets[[nm]]
  res <- rma(d$yi, d$vi, method = "REML")
  last_opt <- NULL
  f <- fit_warn(selmodel(res, type = "beta"))
  s <- f$value
  opt <- last_opt
  case <- list(fit = c(sel_summary(s), list(
    warnings = as.list(f$warnings), optim_function_count = sc(opt$counts[1]),
    optim_gradient_count = sc(opt$counts[2]), optim_convergence = sc(opt$convergence))))
  b <- as.numeric(s$beta)
  points <- list()
  for (db in c(-2e-4, 0, 2e-4)) {
    points[[length(points) + 1]] <- list(
      beta = b + db, tau2 = s$tau2, delta = arr(s$delta),
      loglik = ll_at(d, b + db, s$tau2, s$delta),
      loglik_tight = ll_at(d, b + db, s$tau2, s$delta, tight))
  }
  case$points <- points
  if (nm == "ridge_k12") {
    f2 <- fit_warn(selmodel(res, type = "beta", control = list(
      beta.init = 0.49, tau2.init = 0.0087, delta.init = c(1.8, 0.6))))
    case$second_mode <- c(sel_summary(f2$value), list(warnings = as.list(f2$warnings)))
  }
  out$cases[[nm]] <- case
}

writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
