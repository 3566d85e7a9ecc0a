# Reference values for metaanalysis.pooling.pubbias.henmi_copas (metafor's hc.rma.uni).
#
# Writes tests/reference/henmi_copas.json: for metafor's dat.bcg (log RR), dat.hackshaw1998
# (log OR), dat.li2007 (log OR), dat.pritz1997-free constructed sets (k = 2, one with the DL tau²
# truncated at 0) and three generated sets, the Henmi-Copas estimate, SE and interval beside the
# random-effects fit it accompanies (REML, DL, PM; levels 95 and 90). uniroot's tolerance is set
# to 1e-12 (metafor's default, .Machine$double.eps^0.25, stops at about 1e-4), so that the values
# are the method's, not the root finder's. Numbers with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/henmi_copas.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/henmi_copas.json"
source("tests/reference/_json_writer.R")

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hack <- dat.hackshaw1998
li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
li <- li[!is.na(li$yi), ]
sets <- list(
  bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
  hackshaw1998 = list(yi = hack$yi, vi = hack$vi),
  li2007 = list(yi = as.numeric(li$yi), vi = as.numeric(li$vi)),
  two = list(yi = c(-0.4, 0.1), vi = c(0.04, 0.09)),
  homogeneous = list(yi = c(0.10, 0.12, 0.08, 0.11, 0.09), vi = c(0.02, 0.03, 0.025, 0.04, 0.05))
)
set.seed(20261207)
for (k in c(6, 15, 40)) {
  vi <- runif(k, 0.005, 0.2)
  sets[[paste0("gen", k)]] <- list(yi = rnorm(k, 0.3, sqrt(vi + 0.05)), vi = vi)
}

cases <- list()
for (ds in names(sets)) {
  d <- sets[[ds]]
  for (m in c("REML", "DL", "PM")) {
    for (lev in c(95, 90)) {
      fit <- tryCatch(rma(d$yi, d$vi, method = m, level = lev), error = function(e) NULL)
      if (is.null(fit)) next  # a tau² that does not converge (recorded as absent)
      h <- hc(fit, control = list(tol = 1e-12))
      cases[[paste(ds, m, lev, sep = "_")]] <- list(
        dataset = ds, method = m, level = lev,
        expected = list(estimate = sc(h$beta), se = sc(h$se), ci_low = sc(h$ci.lb),
                        ci_high = sc(h$ci.ub), tau2 = sc(h$tau2), estimate_rma = sc(h$beta.rma),
                        se_rma = sc(h$se.rma), ci_low_rma = sc(h$ci.lb.rma),
                        ci_high_rma = sc(h$ci.ub.rma), tau2_rma = sc(h$tau2.rma)))
    }
  }
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/henmi_copas.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
