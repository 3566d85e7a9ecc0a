# Reference values for metaanalysis.pooling.location_scale.rma_ls (metafor's location-scale
# models, rma(yi, vi, mods = ..., scale = ...), log link).
#
# Writes tests/reference/location_scale.json: dat.bangertdrowns2004 (writing-to-learn
# interventions; rows with the moderators missing left out) with location ~ meta and scale ~ meta
# (REML and ML), an intercept-only location with scale ~ length, and dat.bcg (log RR) with location
# ~ ablat and scale ~ alloc (3 levels), t tests (location ~ meta + length, scale ~ meta) and the
# Knapp-Hartung adjustment (~ meta for both); a lone intercept in the scale (dat.bcg, location ~
# ablat) and in both parts (z and t tests), where metafor tests that intercept (QM, QS on 1 df).
# Location and scale coefficients with their standard errors
# (the scale's from the Hessian), tau² of each study, QE, QM, QS and the log-likelihood. The
# optimiser runs to a tight tolerance (optim BFGS, reltol 1e-14: metafor's default stops about
# 1e-7 from the optimum). Numbers with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/location_scale.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/location_scale.json"
source("tests/reference/_json_writer.R")

bd <- dat.bangertdrowns2004
bd <- bd[!is.na(bd$meta) & !is.na(bd$length), ]
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
sets <- list(bangertdrowns = list(yi = bd$yi, vi = bd$vi, meta = bd$meta, length = bd$length),
             bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat,
                        alloc = as.character(bcg$alloc)))
tight <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14, maxit = 10000)

fits <- list(
  meta_meta_reml = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                        method = "REML"),
  meta_meta_ml = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                      method = "ML"),
  int_length_reml = list(dataset = "bangertdrowns", mods = "~ 1", scale = "~ length",
                         method = "REML"),
  bcg_ablat_alloc = list(dataset = "bcg", mods = "~ ablat", scale = "~ alloc", method = "REML"),
  meta_length_t = list(dataset = "bangertdrowns", mods = "~ meta + length", scale = "~ meta",
                       method = "REML", test = "t"),
  meta_meta_knha = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                        method = "REML", test = "knha"),
  bcg_ablat_int = list(dataset = "bcg", mods = "~ ablat", scale = "~ 1", method = "REML"),
  int_int_reml = list(dataset = "bangertdrowns", mods = "~ 1", scale = "~ 1", method = "REML"),
  int_int_t = list(dataset = "bangertdrowns", mods = "~ 1", scale = "~ 1", method = "REML",
                   test = "t")
)

cases <- list()
for (id in names(fits)) {
  f <- fits[[id]]
  d <- as.data.frame(sets[[f$dataset]])
  res <- rma(yi, vi, mods = as.formula(f$mods), scale = as.formula(f$scale), data = d,
             method = f$method, test = if (is.null(f$test)) "z" else f$test, control = tight)
  cases[[id]] <- c(f, list(expected = list(
    beta = arr(res$beta), se = arr(res$se), zval = arr(res$zval), pval = arr(res$pval),
    ci_low = arr(res$ci.lb), ci_high = arr(res$ci.ub),
    alpha = arr(res$alpha), se_alpha = arr(res$se.alpha), zval_alpha = arr(res$zval.alpha),
    pval_alpha = arr(res$pval.alpha), ci_low_alpha = arr(res$ci.lb.alpha),
    ci_high_alpha = arr(res$ci.ub.alpha), tau2 = arr(res$tau2),
    qe = sc(res$QE), qe_pvalue = sc(res$QEp), qm = sc(res$QM), qm_pvalue = sc(res$QMp),
    qs = sc(res$QS), qs_pvalue = sc(res$QSp), ddf = sc(res$ddf), ddf_alpha = sc(res$ddf.alpha),
    loglik = sc(res$fit.stats["ll", if (f$method == "REML") "REML" else "ML"]),
    aic = sc(res$fit.stats["AIC", if (f$method == "REML") "REML" else "ML"]))))
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/location_scale.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
