# Reference values for metaanalysis.pooling.incidence.pool_incidence (events over person-time in
# two arms).
#
# Writes tests/reference/incidence.json: metafor's two person-time data sets (dat.nielweise2008,
# dat.hart1999), generated sets with zero and double-zero arms, and for each the pooled result of
# rma.mh with measure IRR and IRD (the Mantel-Haenszel test with and without continuity
# correction; add / to / drop00 variants; level 90) and of escalc + rma.uni (EE, DL, REML; tests z
# and knha), with study weights, and leave1out of the MH fits. Numbers with 17 significant digits; NA as null.
#
# Run from the repository root:   Rscript tests/reference/incidence.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/incidence.json"
source("tests/reference/_json_writer.R")

sets <- list(
  nielweise2008 = as.list(dat.nielweise2008[, c("x1i", "t1i", "x2i", "t2i")]),
  hart1999 = as.list(dat.hart1999[, c("x1i", "t1i", "x2i", "t2i")]),
  two = list(x1i = c(4, 12), t1i = c(250.5, 900), x2i = c(9, 10), t2i = c(240, 610.25)),
  one_zero = list(x1i = c(0, 3, 5, 2), t1i = c(120, 300, 410, 95),
                  x2i = c(2, 6, 4, 3), t2i = c(118, 280, 420, 101)),
  double_zero = list(x1i = c(0, 1, 4, 0, 2), t1i = c(80, 150, 390, 60, 210),
                     x2i = c(0, 3, 7, 2, 1), t2i = c(75, 160, 370, 55, 200))
)
set.seed(20261207)
for (j in 1:3) {
  k <- c(8, 20, 45)[j]
  t1 <- round(runif(k, 50, 3000), 1); t2 <- round(runif(k, 50, 3000), 1)
  rate <- exp(rnorm(k, log(0.01), 0.6))
  sets[[paste0("gen", k)]] <- list(x1i = rpois(k, rate * 0.7 * t1), t1i = t1,
                                   x2i = rpois(k, rate * t2), t2i = t2)
}

record <- function(res) {
  w <- tryCatch(weights(res), error = function(e) rep(NA_real_, res$k.f))
  out <- list(estimate = sc(res$beta), se = sc(res$se), zval = sc(res$zval), pvalue = sc(res$pval),
       ci_low = sc(res$ci.lb), ci_high = sc(res$ci.ub), tau2 = sc(res$tau2), q = sc(res$QE),
       q_pvalue = sc(res$QEp), i2 = sc(res$I2), h2 = sc(res$H2), k = res$k, k_yi = sc(res$k.yi),
       weights = arr(w / 100))
  if (inherits(res, "rma.mh")) {
    out$mh <- sc(res$MH); out$mh_pvalue <- sc(res$MHp)
  }
  if (inherits(res, "rma.uni")) {
    p <- predict(res)
    out$pi_low <- sc(if (is.null(p$pi.lb)) p$ci.lb else p$pi.lb)
    out$pi_high <- sc(if (is.null(p$pi.ub)) p$ci.ub else p$pi.ub)
    out$k_yi <- res$k
  }
  out
}

cases <- list()
add_case <- function(id, dataset, fn, opts) {
  d <- sets[[dataset]]
  res <- tryCatch(suppressWarnings(
    if (fn == "mh") do.call(rma.mh, c(d, opts))
    else {
      es <- do.call(escalc, c(list(measure = opts$measure), d, opts[intersect(names(opts), c("add", "to", "drop00"))]))
      do.call(rma, c(list(yi = es$yi, vi = es$vi), opts[intersect(names(opts), c("method", "test", "level"))]))
    }), error = function(e) e)
  expected <- if (inherits(res, "error")) list(error = conditionMessage(res)) else record(res)
  cases[[id]] <<- list(dataset = dataset, fn = fn, options = opts, expected = expected)
}

for (ds in names(sets)) {
  for (m in c("IRR", "IRD")) {
    add_case(paste("mh", ds, m, sep = "_"), ds, "mh", list(measure = m))
    add_case(paste("mh", ds, m, "level90", sep = "_"), ds, "mh", list(measure = m, level = 90))
    add_case(paste("mh", ds, m, "nocorrect", sep = "_"), ds, "mh", list(measure = m, correct = FALSE))
    add_case(paste("mh", ds, m, "add_both", sep = "_"), ds, "mh",
             list(measure = m, add = c(1/2, 1/2), to = c("only0", "only0")))
    add_case(paste("mh", ds, m, "all_drop", sep = "_"), ds, "mh",
             list(measure = m, add = c(1/2, 1/2), to = c("all", "all"), drop00 = c(TRUE, TRUE)))
    add_case(paste("mh", ds, m, "keep00", sep = "_"), ds, "mh",
             list(measure = m, drop00 = c(FALSE, FALSE)))
    for (meth in c("EE", "DL", "REML")) {
      for (tst in c("z", "knha")) {
        add_case(paste("iv", ds, m, meth, tst, sep = "_"), ds, "iv",
                 list(measure = m, method = meth, test = tst))
      }
    }
  }
}

# leave1out of the Mantel-Haenszel fits (metafor's leave1out.rma.mh): one row per omitted study
loo <- list()
for (ds in c("nielweise2008", "double_zero")) {
  for (m in c("IRR", "IRD")) {
    l <- suppressWarnings(leave1out(do.call(rma.mh, c(sets[[ds]], list(measure = m)))))
    loo[[paste(ds, m, sep = "_")]] <- list(estimate = arr(l$estimate), se = arr(l$se),
                                          pval = arr(l$pval), Q = arr(l$Q), I2 = arr(l$I2))
  }
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/incidence.R", datasets = sets, cases = cases, leave1out = loo)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
