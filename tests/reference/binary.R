# Reference values for metaanalysis.pooling.binary.pool_binary.
#
# Writes tests/reference/binary.json: two-arm datasets (metafor's classics with and without zero
# cells, generated rare-event sets with double zeros, k = 2 to 50) and, for every case, the pooled
# result of rma.mh (OR, RR, RD; CMH with and without continuity correction; Tarone's test; add /
# to / drop00 variants), rma.peto, and escalc + rma.uni (EE, DL, REML; tests z and knha), with
# study weights. Numbers are written with 17 significant digits ("%.17g"); NA as null.
#
# Run from the repository root:   Rscript tests/reference/binary.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/binary.json"

source("tests/reference/_json_writer.R")
source("tests/reference/_two_arm_datasets.R")
two_arm$gen_null <- list(ai = c(5, 10, 3), n1i = c(50, 100, 30), ci = c(5, 10, 3), n2i = c(50, 100, 30))

record <- function(res) {
  w <- tryCatch(weights(res), error = function(e) rep(NA_real_, res$k.f))
  out <- list(estimate = sc(res$beta), se = sc(res$se), zval = sc(res$zval), pvalue = sc(res$pval),
       ci_low = sc(res$ci.lb), ci_high = sc(res$ci.ub), tau2 = sc(res$tau2), q = sc(res$QE),
       q_pvalue = sc(res$QEp), i2 = sc(res$I2), h2 = sc(res$H2), k = res$k, k_yi = sc(res$k.yi),
       weights = arr(w / 100))
  if (inherits(res, "rma.mh")) {
    out$cmh <- sc(res$MH); out$cmh_pvalue <- sc(res$MHp); out$cochran <- sc(res$CO)
    out$cochran_pvalue <- sc(res$COp); out$tarone <- sc(res$TA); out$tarone_pvalue <- sc(res$TAp)
    out$breslow_day <- sc(res$BD); out$breslow_day_pvalue <- sc(res$BDp); out$k_pos <- sc(res$k.pos)
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
  d <- two_arm[[dataset]]
  args <- c(d, opts)
  res <- tryCatch(suppressWarnings(
    if (fn == "mh") do.call(rma.mh, args)
    else if (fn == "peto") do.call(rma.peto, args)
    else {
      es <- do.call(escalc, c(list(measure = opts$measure), d, opts[intersect(names(opts), c("add", "to", "drop00"))]))
      do.call(rma, c(list(yi = es$yi, vi = es$vi), opts[intersect(names(opts), c("method", "test", "level"))]))
    }), error = function(e) e)
  expected <- if (inherits(res, "error")) list(error = conditionMessage(res)) else record(res)
  cases[[id]] <<- list(dataset = dataset, fn = fn, options = opts, expected = expected)
}

for (ds in names(two_arm)) {
  for (m in c("OR", "RR", "RD")) {
    add_case(paste("mh", ds, m, sep = "_"), ds, "mh", list(measure = m))
    add_case(paste("mh", ds, m, "level90", sep = "_"), ds, "mh", list(measure = m, level = 90))
    add_case(paste("mh", ds, m, "add_both", sep = "_"), ds, "mh", list(measure = m, add = c(1/2, 1/2), to = c("only0", "only0")))
    add_case(paste("mh", ds, m, "all_drop", sep = "_"), ds, "mh", list(measure = m, add = c(1/2, 1/2), to = c("all", "all"), drop00 = c(TRUE, TRUE)))
    add_case(paste("mh", ds, m, "keep00", sep = "_"), ds, "mh", list(measure = m, drop00 = c(FALSE, FALSE)))
    for (meth in c("EE", "DL", "REML")) for (tst in c("z", "knha")) {
      add_case(paste("iv", ds, m, meth, tst, sep = "_"), ds, "iv", list(measure = m, method = meth, test = tst))
    }
  }
  add_case(paste("mh", ds, "OR", "nocorrect", sep = "_"), ds, "mh", list(measure = "OR", correct = FALSE))
  add_case(paste("peto", ds, sep = "_"), ds, "peto", list())
  add_case(paste("peto", ds, "level99", sep = "_"), ds, "peto", list(level = 99))
  add_case(paste("peto", ds, "add_both", sep = "_"), ds, "peto", list(add = c(1/2, 1/2), to = c("only0", "only0")))
  add_case(paste("peto", ds, "keep00", sep = "_"), ds, "peto", list(drop00 = c(FALSE, FALSE)))
  add_case(paste("iv", ds, "OR", "DL", "z", "drop00", sep = "_"), ds, "iv", list(measure = "OR", method = "DL", test = "z", drop00 = TRUE))
  add_case(paste("iv", ds, "RR", "DL", "z", "all", sep = "_"), ds, "iv", list(measure = "RR", method = "DL", test = "z", add = 1/2, to = "all"))
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/binary.R",
            datasets = lapply(two_arm, function(d) lapply(d, arr)), cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", length(cases), "cases to", out_path, "\n")
