# Reference values for egger_test on a meta-regression: metafor's regtest on an rma fit with
# moderators adds the predictor to the model's moderators and tests its coefficient (no limit
# estimate: the intercept is the effect at moderators of zero).
#
# Writes tests/reference/regtest_mods.json. Run from the repository root:
#   Rscript tests/reference/regtest_mods.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
ni <- with(dat.bcg, tpos + tneg + cpos + cneg)

# name = list(mods formula, method, test)
fits <- list(
  ablat_reml_z = list(~ ablat, "REML", "z"),
  ablat_year_dl_knha = list(~ ablat + year, "DL", "knha"),
  alloc_pm_t = list(~ factor(alloc), "PM", "t"),
  ablat_noint_reml_z = list(~ ablat - 1, "REML", "z"),
  ablat_ee_z = list(~ ablat, "EE", "z")
)
cases <- list()
for (name in names(fits)) {
  f <- fits[[name]]
  res <- rma(yi, vi, mods = f[[1]], data = dat, method = f[[2]], test = f[[3]])
  tests <- list()
  for (model in c("rma", "lm")) {
    for (pred in c("sei", "vi", "ninv", "sqrtni")) {
      r <- if (pred %in% c("sei", "vi")) regtest(res, model = model, predictor = pred)
           else regtest(res, model = model, predictor = pred, ni = ni)
      tests[[paste(model, pred, sep = "_")]] <- list(
        statistic = sc(r$zval), pvalue = sc(r$pval), df = sc(r$dfs),
        slope = sc(tail(coef(r$fit), 1)), estimate = sc(r$est))
    }
  }
  cases[[name]] <- list(mods = deparse(f[[1]]), method = f[[2]], test = f[[3]],
                        coef_names = as.list(rownames(res$beta)), regtest = tests)
}
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/regtest_mods.R",
            data = list(yi = arr(dat$yi), vi = arr(dat$vi), ni = arr(ni), ablat = arr(dat$ablat),
                        year = arr(dat$year), alloc = as.character(dat$alloc)),
            cases = cases)
writeLines(to_json(out), "tests/reference/regtest_mods.json")
cat("wrote tests/reference/regtest_mods.json with", length(cases), "cases\n")
