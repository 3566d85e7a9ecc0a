# Reference values for metaanalysis.pooling (pool, tau2 estimators, meta_regression, subgroups).
#
# Run from the repository root:   Rscript tests/reference/pooling.R
# Writes tests/reference/pooling.json. Numbers are printed with 17 significant digits ("%.17g") by
# the small serialiser below (jsonlite rounds to 15); NA is null and an infinite value is written
# as Infinity, which Python's json module reads. Every fit uses metafor's default control
# settings, so the values are what a metafor user sees.
#
# The generalised Q-profile interval of method "GENQ" needs the CompQuadForm package; where it is
# not installed those intervals are recorded as null and the Python tests check ours another way.

suppressPackageStartupMessages(library(metafor))

# ---- JSON with full precision ------------------------------------------------------------------
num <- function(x) ifelse(is.na(x), "null", ifelse(is.infinite(x), ifelse(x > 0, "Infinity", "-Infinity"),
                                                  sprintf("%.17g", x)))
json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x)) && all(names(x) != "")) {
      parts <- vapply(names(x), function(n) paste0('"', n, '":', json(x[[n]])), "")
      return(paste0("{", paste(parts, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, json, ""), collapse = ","), "]"))
  }
  scalar <- length(x) == 1 && !inherits(x, "AsIs")
  if (is.character(x) || is.factor(x)) {
    s <- ifelse(is.na(x), "null", paste0('"', gsub("[\n\t]", " ", gsub('"', '\\\\"', as.character(x))), '"'))
  } else if (is.logical(x)) {
    s <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else {
    s <- num(as.numeric(x))
  }
  if (scalar) s else paste0("[", paste(s, collapse = ","), "]")
}
vec <- function(x) I(as.numeric(x))  # always an array, even of length 1

methods <- c("EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ")
tests <- c("z", "t", "knha", "adhoc")

# ---- datasets ----------------------------------------------------------------------------------
datasets <- list()
add <- function(name, yi, vi, source) {
  ok <- !is.na(yi) & !is.na(vi)
  datasets[[name]] <<- list(yi = vec(yi[ok]), vi = vec(vi[ok]), source = source)
}
source("tests/reference/_uni_datasets.R")

# ---- fits ----------------------------------------------------------------------------------------
genq_weights <- function(vi) 1 / sqrt(vi)  # any positive weights; these differ from 1/vi
safe <- function(expr) tryCatch(expr, error = function(e) structure(list(msg = conditionMessage(e)), class = "fail"))

pool_ref <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  yi <- as.numeric(d$yi); vi <- as.numeric(d$vi)
  out <- list()
  for (m in methods) {
    entry <- list(tests = list())
    w <- if (m == "GENQ") genq_weights(vi) else NULL
    for (tt in tests) {
      fit <- safe(suppressWarnings(if (is.null(w)) rma(yi, vi, method = m, test = tt)
                                   else rma(yi, vi, weights = w, method = m, test = tt)))
      if (inherits(fit, "fail")) { entry$tests[[tt]] <- list(error = fit$msg); next }
      pr <- predict(fit)
      entry$tests[[tt]] <- list(estimate = c(fit$beta), se = fit$se, zval = fit$zval, pval = fit$pval,
                                ci.lb = fit$ci.lb, ci.ub = fit$ci.ub,
                                pi.lb = if (is.null(pr$pi.lb)) NA else pr$pi.lb,
                                pi.ub = if (is.null(pr$pi.ub)) NA else pr$pi.ub)
      if (tt == "z") {
        entry$tau2 <- fit$tau2; entry$se.tau2 <- fit$se.tau2; entry$I2 <- fit$I2; entry$H2 <- fit$H2
        entry$QE <- fit$QE; entry$QEp <- fit$QEp
        ci <- if (m != "EE" && fit$k > 1) safe(suppressWarnings(confint(fit))) else NULL
        if (!is.null(ci) && !inherits(ci, "fail")) {
          r <- ci$random
          entry$tau2.ci <- vec(r["tau^2", 2:3]); entry$I2.ci <- vec(r["I^2(%)", 2:3]); entry$H2.ci <- vec(r["H^2", 2:3])
        } else {
          entry$tau2.ci <- vec(c(NA, NA)); entry$I2.ci <- vec(c(NA, NA)); entry$H2.ci <- vec(c(NA, NA))
          if (inherits(ci, "fail")) entry$confint.error <- ci$msg
        }
      }
    }
    out[[m]] <- entry
  }
  pool_ref[[name]] <- out
}

# fixed tau2 and custom weights (metafor's tau2= and weights= options)
options_ref <- list()
e <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
for (tt in c("z", "knha")) {
  f1 <- rma(yi, vi, data = e, tau2 = 0.1, test = tt)
  f2 <- rma(yi, vi, data = e, weights = 1 / (vi + 0.05), method = "REML", test = tt)
  f3 <- rma(yi, vi, data = e, method = "DL", test = tt, level = 90)
  for (nm in c("tau2fixed", "weights", "level90")) {
    f <- switch(nm, tau2fixed = f1, weights = f2, level90 = f3)
    pr <- predict(f)
    options_ref[[paste(nm, tt, sep = "_")]] <- list(
      estimate = c(f$beta), se = f$se, zval = f$zval, pval = f$pval, ci.lb = f$ci.lb, ci.ub = f$ci.ub,
      tau2 = f$tau2, se.tau2 = f$se.tau2, I2 = f$I2, H2 = f$H2, QE = f$QE, pi.lb = pr$pi.lb, pi.ub = pr$pi.ub)
  }
}

# the canonical analysis of issue 3: rma(yi, vi, method = "REML", test = "knha"), confint, predict
fit <- rma(yi, vi, data = e, method = "REML", test = "knha")
ci <- confint(fit); pr <- predict(fit); prx <- predict(fit, transf = exp)
bcg_ref <- list(estimate = c(fit$beta), se = fit$se, zval = fit$zval, pval = fit$pval, ci.lb = fit$ci.lb,
                ci.ub = fit$ci.ub, tau2 = fit$tau2, se.tau2 = fit$se.tau2, I2 = fit$I2, H2 = fit$H2,
                QE = fit$QE, QEp = fit$QEp, confint_random = lapply(split(ci$random, rownames(ci$random)), vec),
                confint_fixed = vec(ci$fixed[1, ]),
                predict = list(pred = pr$pred, se = pr$se, ci.lb = pr$ci.lb, ci.ub = pr$ci.ub, pi.lb = pr$pi.lb, pi.ub = pr$pi.ub),
                predict_exp = list(pred = prx$pred, ci.lb = prx$ci.lb, ci.ub = prx$ci.ub, pi.lb = prx$pi.lb, pi.ub = prx$pi.ub))
bcg_ref$confint_random <- list(tau2 = vec(ci$random["tau^2", ]), tau = vec(ci$random["tau", ]),
                               I2 = vec(ci$random["I^2(%)", ]), H2 = vec(ci$random["H^2", ]))

# ---- meta-regression -----------------------------------------------------------------------------
reg_cases <- list()
add_reg <- function(name, yi, vi, X, data, formula, methods, tests = c("z", "knha")) {
  out <- list(yi = vec(yi), vi = vec(vi), X = lapply(seq_len(nrow(X)), function(i) vec(X[i, ])),
              coef_names = I(colnames(X)), data = data, formula = formula, fits = list())
  for (m in methods) for (tt in tests) {
    f <- safe(suppressWarnings(rma(yi, vi, mods = X, intercept = FALSE, method = m, test = tt)))
    key <- paste(m, tt, sep = "_")
    if (inherits(f, "fail")) { out$fits[[key]] <- list(error = f$msg); next }
    ci <- if (m != "EE") safe(suppressWarnings(confint(f))) else NULL
    tci <- if (!is.null(ci) && !inherits(ci, "fail")) vec(ci$random["tau^2", 2:3]) else vec(c(NA, NA))
    out$fits[[key]] <- list(coef = vec(f$beta), se = vec(f$se), zval = vec(f$zval), pval = vec(f$pval),
                            ci.lb = vec(f$ci.lb), ci.ub = vec(f$ci.ub), tau2 = f$tau2, se.tau2 = f$se.tau2,
                            I2 = f$I2, H2 = f$H2, R2 = if (is.null(f$R2)) NA else f$R2, QE = f$QE, QEp = f$QEp,
                            QM = f$QM, QMdf = vec(f$QMdf), QMp = f$QMp, tau2.ci = tci)
  }
  reg_cases[[name]] <<- out
}
regm <- c("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
X <- model.matrix(~ ablat, data = dat.bcg)
add_reg("bcg_ablat", e$yi, e$vi, X, list(ablat = vec(dat.bcg$ablat)), "~ ablat", regm)
X <- model.matrix(~ ablat + year, data = dat.bcg)
add_reg("bcg_ablat_year", e$yi, e$vi, X, list(ablat = vec(dat.bcg$ablat), year = vec(dat.bcg$year)),
        "~ ablat + year", c("REML", "DL", "ML"))
X <- model.matrix(~ alloc, data = dat.bcg)
add_reg("bcg_alloc", e$yi, e$vi, X, list(alloc = I(as.character(dat.bcg$alloc))), "~ alloc", regm)
X <- model.matrix(~ alloc - 1, data = dat.bcg)
add_reg("bcg_alloc_nointercept", e$yi, e$vi, X, list(alloc = I(as.character(dat.bcg$alloc))), "~ alloc - 1",
        c("REML", "DL"))
X <- model.matrix(~ weeks, data = dat.raudenbush1985)
add_reg("raudenbush1985_weeks", dat.raudenbush1985$yi, dat.raudenbush1985$vi, X,
        list(weeks = vec(dat.raudenbush1985$weeks)), "~ weeks", c("REML", "DL", "EE"))
set.seed(4242)
k <- 30; x1 <- rnorm(k); grp <- sample(c("a", "b", "c"), k, replace = TRUE); vi <- runif(k, 0.02, 0.3)
yi <- 0.2 + 0.3 * x1 + ifelse(grp == "b", 0.4, ifelse(grp == "c", -0.2, 0)) + rnorm(k, 0, sqrt(vi + 0.1))
X <- model.matrix(~ x1 + grp)
add_reg("gen_x1_grp", yi, vi, X, list(x1 = vec(x1), grp = I(grp)), "~ x1 + grp", c("REML", "DL", "PM", "ML"))

# ---- subgroups ------------------------------------------------------------------------------------
sub_cases <- list()
add_sub <- function(name, yi, vi, groups, method) {
  lv <- sort(unique(groups))
  per <- list()
  for (g in lv) {
    f <- suppressWarnings(rma(yi[groups == g], vi[groups == g], method = method))
    per[[g]] <- list(k = f$k, estimate = c(f$beta), se = f$se, ci.lb = f$ci.lb, ci.ub = f$ci.ub, tau2 = f$tau2,
                     QE = f$QE, I2 = f$I2)
  }
  est <- sapply(per, function(x) x$estimate); se <- sapply(per, function(x) x$se)
  between <- rma(est, sei = se, mods = ~ factor(lv), method = "FE")
  common <- rma(yi, vi, mods = ~ factor(groups), method = method)
  sub_cases[[name]] <<- list(yi = vec(yi), vi = vec(vi), groups = I(groups), method = method, subgroups = per,
                             separate = list(QM = between$QM, QMdf = between$QMdf[1], QMp = between$QMp),
                             common = list(QM = common$QM, QMdf = common$QMdf[1], QMp = common$QMp,
                                           tau2 = common$tau2, coef = vec(common$beta), QE = common$QE))
}
add_sub("bcg_alloc_REML", e$yi, e$vi, as.character(dat.bcg$alloc), "REML")
add_sub("bcg_alloc_DL", e$yi, e$vi, as.character(dat.bcg$alloc), "DL")
add_sub("gen_grp_REML", yi, vi, grp, "REML")

res <- list(meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                        script = "tests/reference/pooling.R",
                        genq_confint = requireNamespace("CompQuadForm", quietly = TRUE)),
            methods = I(methods), tests = I(tests),
            datasets = datasets, pool = pool_ref, options = options_ref, bcg = bcg_ref,
            regression = reg_cases, subgroups = sub_cases)
out <- file.path("tests", "reference", "pooling.json")
writeLines(json(res), out)
cat("wrote", out, "with", length(datasets), "datasets\n")
