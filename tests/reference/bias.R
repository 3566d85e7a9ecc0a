# Reference values for metaanalysis.pooling.bias and metaanalysis.pooling.sensitivity.
#
# Writes tests/reference/bias.json: for every case a dataset (yi, vi, labels, optional ni and a
# cumulation order), the fit it was analysed with, and metafor's regtest (models "rma" and "lm",
# several predictors), ranktest, trimfill (L0, R0, Q0; side chosen by metafor, left and right),
# leave1out, cumul and influence. Numbers are written with 17 significant digits ("%.17g").
#
# Run from the repository root:   Rscript tests/reference/bias.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/bias.json"

# ---- a small JSON writer with 17 significant digits (jsonlite rounds to 15) ----
json_num <- function(x) {
  if (length(x) == 0) return("[]")
  s <- ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
  s
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nm <- names(x)
    if (is.null(nm)) return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
    items <- vapply(seq_along(x), function(i) paste0('"', nm[i], '":', to_json(x[[i]])), "")
    return(paste0("{", paste(items, collapse = ","), "}"))
  }
  if (is.logical(x)) {
    s <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.character(x)) {
    s <- paste0('"', gsub('"', '\\\\"', x), '"')
  } else {
    s <- json_num(as.numeric(x))
  }
  if (length(x) == 1 && is.null(attr(x, "as_array"))) return(s)
  paste0("[", paste(s, collapse = ","), "]")
}
arr <- function(x) { x <- unname(x); attr(x, "as_array") <- TRUE; x }   # always a JSON list
scalar <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else unname(x)[1]

# ---- what is recorded for each function ----
fit_summary <- function(res) list(
  estimate = scalar(res$beta), se = scalar(res$se), statistic = scalar(res$zval),
  pvalue = scalar(res$pval), ci_low = scalar(res$ci.lb), ci_high = scalar(res$ci.ub),
  tau2 = scalar(res$tau2), i2 = scalar(res$I2), h2 = scalar(res$H2), q = scalar(res$QE),
  q_pvalue = scalar(res$QEp), k = res$k, method = res$method, test = res$test)

do_regtest <- function(res, model, predictor, ni) {
  r <- tryCatch(
    if (is.null(ni)) regtest(res, model = model, predictor = predictor)
    else regtest(res, model = model, predictor = predictor, ni = ni),
    error = function(e) e)
  if (inherits(r, "error")) return(list(error = conditionMessage(r)))
  list(statistic = scalar(r$zval), pvalue = scalar(r$pval), df = scalar(r$dfs),
       estimate = scalar(r$est), ci_low = scalar(r$ci.lb), ci_high = scalar(r$ci.ub))
}

do_trimfill <- function(res, estimator, side) {
  r <- tryCatch(
    suppressWarnings(if (is.null(side)) trimfill(res, estimator = estimator)
                     else trimfill(res, estimator = estimator, side = side)),
    error = function(e) e)
  if (inherits(r, "error")) return(list(error = conditionMessage(r)))
  c(list(k0 = r$k0, se_k0 = scalar(r$se.k0), p_k0 = scalar(r$p.k0), side = r$side,
         yi = arr(r$yi), vi = arr(r$vi), fill = arr(r$fill)),
    list(fit = fit_summary(r)))
}

frame_cols <- function(x, cols) {
  # metafor names the statistic zval or tval and the p-value pval or pvals, by test and function
  pick <- function(cn) {
    alts <- list(zval = c("zval", "tval"), pval = c("pval", "pvals"))[[cn]]
    if (is.null(alts)) alts <- cn
    for (a in alts) if (!is.null(x[[a]])) return(x[[a]])
    stop("no column ", cn)
  }
  out <- lapply(cols, function(cn) arr(as.numeric(pick(cn))))
  names(out) <- names(cols)
  out
}
l1o_cols <- c(estimate = "estimate", se = "se", statistic = "zval", pvalue = "pval",
              ci_low = "ci.lb", ci_high = "ci.ub", q = "Q", q_pvalue = "Qp", tau2 = "tau2",
              i2 = "I2", h2 = "H2")

analyse <- function(name, yi, vi, method, test, labels = NULL, ni = NULL, order = NULL,
                    description = "", weights = NULL, tau2 = NULL) {
  k <- length(yi)
  if (is.null(labels)) labels <- paste("Study", seq_len(k))
  args <- list(yi = yi, vi = vi, method = method, test = test, slab = labels)
  if (!is.null(weights)) args$weights <- weights
  if (!is.null(tau2)) args$tau2 <- tau2
  res <- suppressWarnings(do.call(rma, args))
  case <- list(description = description,
               data = list(yi = arr(yi), vi = arr(vi), labels = arr(labels),
                           ni = if (is.null(ni)) NULL else arr(ni),
                           order = if (is.null(order)) NULL else arr(order),
                           weights = if (is.null(weights)) NULL else arr(weights)),
               method = method, test = test, level = 95,
               tau2 = if (is.null(tau2)) NULL else tau2, fit = fit_summary(res))

  reg <- list()
  for (model in c("rma", "lm")) {
    for (pred in c("sei", "vi", "ni", "ninv", "sqrtninv")) {
      if (pred %in% c("ni", "ninv", "sqrtninv") && is.null(ni)) next
      reg[[paste(model, pred, sep = "_")]] <- do_regtest(res, model, pred, ni)
    }
  }
  case$regtest <- reg

  rk <- suppressWarnings(ranktest(res))
  case$ranktest <- list(tau = scalar(rk$tau), pvalue = scalar(rk$pval))

  tf <- list()
  for (est in c("L0", "R0", "Q0")) {
    tf[[paste0(est, "_auto")]] <- do_trimfill(res, est, NULL)
    tf[[paste0(est, "_left")]] <- do_trimfill(res, est, "left")
    tf[[paste0(est, "_right")]] <- do_trimfill(res, est, "right")
  }
  case$trimfill <- tf

  l1o <- as.data.frame(leave1out(res))
  if (is.null(l1o$tau2)) l1o$tau2 <- 0
  case$leave1out <- frame_cols(l1o, l1o_cols)

  cm <- if (is.null(order)) cumul(res) else cumul(res, order = order)
  cm_df <- as.data.frame(cm)
  if (is.null(cm_df$tau2)) cm_df$tau2 <- 0
  case$cumul <- c(frame_cols(cm_df, l1o_cols), list(labels = arr(as.character(cm$slab))))

  inf <- influence(res)
  ii <- inf$inf
  case$influence <- list(
    rstudent = arr(ii$rstudent), dffits = arr(ii$dffits), cook_d = arr(ii$cook.d),
    cov_r = arr(ii$cov.r), tau2_del = arr(ii$tau2.del), qe_del = arr(ii$QE.del),
    hat = arr(ii$hat), weight = arr(ii$weight), dfbetas = arr(inf$dfbs[[1]]),
    inf = arr(inf$is.infl))
  case
}

cases <- list()

# 1. dat.bcg, log risk ratios: the issue's "done when" analysis.
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_ni <- with(dat.bcg, tpos + tneg + cpos + cneg)
bcg_lab <- paste(dat.bcg$author, dat.bcg$year, sep = ", ")
cases$bcg_reml_knha <- analyse("bcg_reml_knha", bcg$yi, bcg$vi, "REML", "knha", bcg_lab,
                               bcg_ni, dat.bcg$year, "dat.bcg log RR, REML, knha")
cases$bcg_ee_z <- analyse("bcg_ee_z", bcg$yi, bcg$vi, "EE", "z", bcg_lab, bcg_ni, NULL,
                          "dat.bcg log RR, EE, z")
cases$bcg_reml_weights <- analyse("bcg_reml_weights", bcg$yi, bcg$vi, "REML", "z", bcg_lab,
                                  bcg_ni, NULL, "dat.bcg log RR, REML, z, custom weights 1/sei",
                                  weights = 1 / sqrt(bcg$vi))
cases$bcg_tau2_fixed_knha <- analyse("bcg_tau2_fixed_knha", bcg$yi, bcg$vi, "REML", "knha",
                                     bcg_lab, bcg_ni, NULL, "dat.bcg log RR, tau2 fixed at 0.2, knha",
                                     tau2 = 0.2)
cases$bcg_dl_z <- analyse("bcg_dl_z", bcg$yi, bcg$vi, "DL", "z", bcg_lab, bcg_ni,
                          dat.bcg$ablat, "dat.bcg log RR, DL, z, cumulated by latitude")

# 2. dat.hackshaw1998: log odds ratios as published (k = 37).
hs <- dat.hackshaw1998
cases$hackshaw_dl_z <- analyse("hackshaw_dl_z", hs$yi, hs$vi, "DL", "z",
                               paste(hs$author, hs$year), NULL, hs$year,
                               "dat.hackshaw1998 log OR, DL, z")
cases$hackshaw_reml_knha <- analyse("hackshaw_reml_knha", hs$yi, hs$vi, "REML", "knha",
                                    paste(hs$author, hs$year), NULL, NULL,
                                    "dat.hackshaw1998 log OR, REML, knha")

# 3. dat.pritz1997: proportions, Freeman-Tukey (k = 13) and logit.
pr_ft <- escalc(measure = "PFT", xi = xi, ni = ni, data = dat.pritz1997)
cases$pritz_pft_reml_z <- analyse("pritz_pft_reml_z", pr_ft$yi, pr_ft$vi, "REML", "z",
                                  dat.pritz1997$authors, dat.pritz1997$ni, NULL,
                                  "dat.pritz1997 PFT, REML, z")
pr_lo <- escalc(measure = "PLO", xi = xi, ni = ni, data = dat.pritz1997)
cases$pritz_plo_dl_knha <- analyse("pritz_plo_dl_knha", pr_lo$yi, pr_lo$vi, "DL", "knha",
                                   dat.pritz1997$authors, dat.pritz1997$ni, NULL,
                                   "dat.pritz1997 PLO, DL, knha")

# 4. dat.li2007: log odds ratios with sparse cells (k = 22).
li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
li <- li[!is.na(li$yi), ]
cases$li_reml_z <- analyse("li_reml_z", li$yi, li$vi, "REML", "z",
                           paste(li$study, li$year), with(li, n1i + n2i), li$year,
                           "dat.li2007 log OR, REML, z")

# 5. generated data sets (seeded), k from 5 to 40.
gen <- function(seed, k, tau2, bias = 0, ties = FALSE) {
  set.seed(seed)
  ni <- round(runif(k, 20, 400))
  vi <- 4 / ni
  if (ties) vi <- round(vi, 2)
  yi <- rnorm(k, 0.3 + bias * sqrt(vi), sqrt(vi + tau2))
  list(yi = yi, vi = vi, ni = ni)
}
g <- gen(101, 5, 0.02)
cases$gen_k5_reml_z <- analyse("gen_k5_reml_z", g$yi, g$vi, "REML", "z", NULL, g$ni, NULL,
                               "generated, seed 101, k = 5, REML, z")
g <- gen(202, 8, 0.0)
cases$gen_k8_ee_z <- analyse("gen_k8_ee_z", g$yi, g$vi, "EE", "z", NULL, g$ni, NULL,
                             "generated, seed 202, k = 8, EE, z")
cases$gen_k8_dl_adhoc <- analyse("gen_k8_dl_adhoc", g$yi, g$vi, "DL", "adhoc", NULL, g$ni,
                                 NULL, "generated, seed 202, k = 8, DL, knha with ad hoc correction")
g <- gen(303, 12, 0.05, bias = 2.5)
cases$gen_k12_dl_knha <- analyse("gen_k12_dl_knha", g$yi, g$vi, "DL", "knha", NULL, g$ni,
                                 NULL, "generated, seed 303, k = 12, small-study effect, DL, knha")
g <- gen(404, 20, 0.1, bias = 3)
cases$gen_k20_reml_z <- analyse("gen_k20_reml_z", g$yi, g$vi, "REML", "z", NULL, g$ni,
                                rev(seq_along(g$yi)),
                                "generated, seed 404, k = 20, small-study effect, REML, z")
g <- gen(505, 30, 0.03, ties = TRUE)
cases$gen_k30_dl_z_ties <- analyse("gen_k30_dl_z_ties", g$yi, g$vi, "DL", "z", NULL, g$ni,
                                   NULL, "generated, seed 505, k = 30, tied vi, DL, z")
g <- gen(606, 40, 0.2, bias = -2)
cases$gen_k40_reml_knha <- analyse("gen_k40_reml_knha", g$yi, g$vi, "REML", "knha", NULL,
                                   g$ni, NULL,
                                   "generated, seed 606, k = 40, reverse small-study effect, REML, knha")
# symmetric by construction: pairs mirrored about 0.2 with equal variances; within every pair one
# distance is lengthened by 0.001, alternately above and below, so that no |residual| is tied (with
# exact ties metafor's ranks would depend on floating-point noise)
vi_s <- c(0.01, 0.02, 0.04, 0.08, 0.16)
d_s <- c(0.05, 0.1, 0.2, 0.3, 0.5)
nudge <- c(0.001, 0, 0.001, 0, 0.001)
yi_s <- c(0.2 + d_s + nudge, 0.2 - d_s - (0.001 - nudge))
cases$symmetric_k10_reml_z <- analyse("symmetric_k10_reml_z", yi_s, c(vi_s, vi_s), "REML",
                                      "z", NULL, NULL, NULL,
                                      "mirror-symmetric pairs around 0.2 (ties broken), REML, z")

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/bias.R", cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
