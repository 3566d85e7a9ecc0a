# Reference values for metaanalysis.pooling.regression.regression_line (metafor's regplot).
#
# Writes tests/reference/regplot.json: meta-regressions of dat.bcg (log RR) and, for each, what
# regplot returns (the fitted value at each study's moderator value, the other moderators at their
# means, and the point sizes psize) and the line it draws at 25 values of the moderator: metafor's
# regplot predicts the line with predict(newmods=) at the column means of the model matrix
# (?regplot: "holding the other moderators constant at their means"), done here the same way for
# the line and taken from regplot's own return value for the studies. Numbers with 17 significant
# digits; NA as null.
#
# Run from the repository root:   Rscript tests/reference/regplot.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/regplot.json"
source("tests/reference/_json_writer.R")

dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
fits <- list(
  ablat_reml = list(mods = "~ ablat", method = "REML", test = "z", level = 95, mod = "ablat",
                    plim = c(0.5, 3)),
  ablat_year_dl_knha = list(mods = "~ ablat + year", method = "DL", test = "knha", level = 90,
                            mod = "ablat", plim = c(0.5, 3)),
  year_given_ablat = list(mods = "~ ablat + year", method = "DL", test = "knha", level = 90,
                          mod = "year", plim = c(0.5, 3)),
  ablat_alloc = list(mods = "~ ablat + factor(alloc)", method = "REML", test = "z", level = 95,
                     mod = "ablat", plim = c(1, 4)),
  year_ee = list(mods = "~ year", method = "EE", test = "z", level = 95, mod = "year",
                 plim = c(0.5, 3))
)

pdf(NULL)
cases <- list()
for (id in names(fits)) {
  f <- fits[[id]]
  res <- rma(yi, vi, mods = as.formula(f$mods), data = dat, method = f$method, test = f$test,
             level = f$level)
  rp <- regplot(res, mod = f$mod, plim = f$plim)
  X <- model.matrix(res)
  pos <- which(colnames(X) == f$mod)
  xs <- seq(min(X[, pos]) - 5, max(X[, pos]) + 5, length.out = 25)
  Xnew <- rbind(colMeans(X))[rep(1, length(xs)), , drop = FALSE]
  Xnew[, pos] <- xs
  p <- predict(res, newmods = Xnew[, -1, drop = FALSE], level = f$level)
  cases[[id]] <- list(
    mods = f$mods, method = f$method, test = f$test, level = f$level, mod = f$mod,
    plim = arr(f$plim), coef_names = colnames(X), xi = arr(rp$xi), yi = arr(rp$yi),
    fitted = arr(rp$pred), psize = arr(rp$psize), xvals = arr(xs), pred = arr(p$pred),
    ci_low = arr(p$ci.lb), ci_high = arr(p$ci.ub),
    pi_low = arr(if (is.null(p$pi.lb)) rep(NA, length(xs)) else p$pi.lb),
    pi_high = arr(if (is.null(p$pi.ub)) rep(NA, length(xs)) else p$pi.ub))
}
invisible(dev.off())

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/regplot.R", cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
