# Reference values for metaanalysis.pooling.diagnostics.qq_residuals (metafor's qqnorm.rma.uni).
#
# Writes tests/reference/qqnorm.json: the points of the normal QQ plot of the standardized
# (rstandard) and studentized (rstudent) residuals: the theoretical quantiles (qqnorm's ppoints)
# and the residuals sorted, with the study of each, for dat.bcg (log RR; REML, EE, and REML with
# ~ ablat) and dat.hackshaw1998 (DL). metafor's envelope is drawn from its own random draws and
# smoothed with supsmu, so it is not compared here (tests/test_qqnorm.py checks the envelope's
# coverage by simulation instead). Numbers with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/qqnorm.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/qqnorm.json"
source("tests/reference/_json_writer.R")

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hack <- dat.hackshaw1998
sets <- list(bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat),
             hackshaw1998 = list(yi = hack$yi, vi = hack$vi))
fits <- list(bcg_reml = list(dataset = "bcg", method = "REML", mods = FALSE),
             bcg_ee = list(dataset = "bcg", method = "EE", mods = FALSE),
             bcg_ablat = list(dataset = "bcg", method = "REML", mods = TRUE),
             hackshaw_dl = list(dataset = "hackshaw1998", method = "DL", mods = FALSE))

pdf(NULL)
cases <- list()
for (id in names(fits)) {
  f <- fits[[id]]
  d <- sets[[f$dataset]]
  res <- if (f$mods) rma(d$yi, d$vi, mods = ~ d$ablat, method = f$method)
         else rma(d$yi, d$vi, method = f$method)
  for (type in c("rstandard", "rstudent")) {
    q <- qqnorm(res, type = type, envelope = FALSE)
    z <- if (type == "rstandard") rstandard(res)$z else rstudent(res)$z
    o <- order(z)
    cases[[paste(id, type, sep = "_")]] <- list(
      dataset = f$dataset, method = f$method, mods = f$mods, type = type,
      expected = list(x = arr(q$x[o]), y = arr(q$y[o]), order = arr(o - 1)))
  }
}
invisible(dev.off())

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/qqnorm.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
