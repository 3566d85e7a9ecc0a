# Reference values for metaanalysis.pooling.sensitivity.gosh (metafor's gosh.rma).
#
# Writes tests/reference/gosh.json: every subset of the studies of small sets (dat.bcg's first 7
# trials, log RR; dat.hackshaw1998's first 8, log OR; a homogeneous set of 5) refitted with the
# fit's method (EE, DL, REML): the subset (which studies), its k, QE, I², H², tau² and estimate,
# and whether it was fitted (metafor records NA where a fit fails). Numbers with 17 significant
# digits; NA as null.
#
# Run from the repository root:   Rscript tests/reference/gosh.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/gosh.json"
source("tests/reference/_json_writer.R")

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)[1:7, ]
hack <- dat.hackshaw1998[1:8, ]
sets <- list(bcg7 = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
             hackshaw8 = list(yi = hack$yi, vi = hack$vi),
             homogeneous = list(yi = c(0.10, 0.12, 0.08, 0.11, 0.09),
                                vi = c(0.02, 0.03, 0.025, 0.04, 0.05)))

cases <- list()
for (ds in names(sets)) {
  d <- sets[[ds]]
  for (m in c("EE", "DL", "REML")) {
    g <- gosh(rma(d$yi, d$vi, method = m), progbar = FALSE)
    cases[[paste(ds, m, sep = "_")]] <- list(
      dataset = ds, method = m,
      expected = list(incl = lapply(seq_len(nrow(g$incl)), function(i) arr(which(g$incl[i, ]) - 1)),
                      k = arr(g$res$k), q = arr(g$res$QE), i2 = arr(g$res$I2),
                      h2 = arr(g$res$H2), tau2 = arr(g$res$tau2), estimate = arr(g$res$estimate),
                      fit = g$fit))
  }
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/gosh.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
