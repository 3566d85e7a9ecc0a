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

# anova: likelihood-ratio tests of nested location-scale models (REML with the same location,
# ML with different ones, and REML with different ones refitted with ML) and Wald tests of scale
# (att) and location (btt) coefficients, with z and with Knapp-Hartung F tests. metafor 3.8-1
# compares only rma.ls with rma.ls (an rma.uni is refused).
fit_ls <- function(dataset, mods, scale, method = "REML", test = "z") {
  d <- as.data.frame(sets[[dataset]])
  rma(yi, vi, mods = as.formula(mods), scale = as.formula(scale), data = d, method = method,
      test = test, control = tight)
}
lrts <- list(
  same_location_reml = list(full = list("bangertdrowns", "~ meta", "~ meta"),
                            reduced = list("bangertdrowns", "~ meta", "~ 1"), refit = FALSE),
  other_location_ml = list(full = list("bangertdrowns", "~ meta + length", "~ meta", "ML"),
                           reduced = list("bangertdrowns", "~ meta", "~ 1", "ML"), refit = FALSE),
  # refit = TRUE: anova's update() re-evaluates each call where its data frame (local to
  # fit_ls) is not found, so the ML fits it would make are made here: the package is given the
  # REML fits and refit=True
  refit_reml = list(full = list("bangertdrowns", "~ meta + length", "~ length"),
                    reduced = list("bangertdrowns", "~ 1", "~ 1"),
                    refit = TRUE)
)
anovas <- list()
for (id in names(lrts)) {
  l <- lrts[[id]]
  as_ml <- function(m) if (l$refit) c(m[1:3], "ML") else m
  full <- do.call(fit_ls, as_ml(l$full))
  reduced <- do.call(fit_ls, as_ml(l$reduced))
  a <- anova(full, reduced)
  anovas[[id]] <- list(full = l$full, reduced = l$reduced, refit = l$refit, expected = list(
    lrt = sc(a$LRT), pvalue = sc(a$pval), parms_full = sc(a$parms.f), parms_reduced = sc(a$parms.r),
    loglik_full = sc(a$fit.stats.f["ll"]), loglik_reduced = sc(a$fit.stats.r["ll"]),
    aic_full = sc(a$fit.stats.f["AIC"]), aic_reduced = sc(a$fit.stats.r["AIC"]),
    bic_full = sc(a$fit.stats.f["BIC"]), aicc_full = sc(a$fit.stats.f["AICc"]),
    qe_full = sc(a$QE.f), qe_reduced = sc(a$QE.r)))
}
walds <- list(
  att_z = list(model = list("bangertdrowns", "~ meta", "~ meta"), att = 2),
  att_knha = list(model = list("bangertdrowns", "~ meta", "~ meta", "REML", "knha"), att = 2),
  att_both = list(model = list("bcg", "~ ablat", "~ alloc"), att = c(2, 3)),
  btt_t = list(model = list("bangertdrowns", "~ meta + length", "~ meta", "REML", "t"),
               btt = c(2, 3))
)
for (id in names(walds)) {
  w <- walds[[id]]
  res <- do.call(fit_ls, w$model)
  if (is.null(w$att)) {
    a <- anova(res, btt = w$btt)
    stat <- list(q = sc(a$QM), df = sc(a$QMdf[1]), df2 = sc(a$QMdf[2]), pvalue = sc(a$QMp))
  } else {
    a <- anova(res, att = w$att)
    stat <- list(q = sc(a$QS), df = sc(a$QSdf[1]), df2 = sc(a$QSdf[2]), pvalue = sc(a$QSp))
  }
  anovas[[id]] <- c(w, list(expected = stat))
}

# anova with X= (linear combinations of the location coefficients) and Z= (of the scale's):
# each combination's estimate, SE, test and p-value and the omnibus test, z and t; a Z without
# its intercept column, whose intercept metafor adds; rhs other than 0
combos <- list(
  x_z = list(model = list("bcg", "~ ablat", "~ alloc"), X = rbind(c(1, 10), c(1, 40))),
  z_z = list(model = list("bcg", "~ ablat", "~ alloc"),
             Z = rbind(c(1, 0, 0), c(1, 1, 0), c(0, 1, -1))),
  z_short = list(model = list("bcg", "~ ablat", "~ alloc"), Z = rbind(c(1, 0), c(0, 1))),
  z_t = list(model = list("bcg", "~ ablat", "~ alloc", "REML", "t"), Z = rbind(c(0, 1, -1))),
  x_t_rhs = list(model = list("bcg", "~ ablat", "~ alloc", "REML", "t"),
                 X = rbind(c(1, 10), c(1, 40)), rhs = c(0, -1)),
  x_bd = list(model = list("bangertdrowns", "~ meta + length", "~ meta"),
              X = rbind(c(1, 1, 10), c(0, 1, 0))),
  z_bd = list(model = list("bangertdrowns", "~ meta", "~ meta"), Z = rbind(c(1, 1), c(0, 1)))
)
for (id in names(combos)) {
  w <- combos[[id]]
  res <- do.call(fit_ls, w$model)
  a <- if (is.null(w$Z)) anova(res, X = w$X, rhs = if (is.null(w$rhs)) 0 else w$rhs) else
    anova(res, Z = w$Z)
  q <- if (is.null(w$Z)) a$QM else a$QS
  qdf <- if (is.null(w$Z)) a$QMdf else a$QSdf
  qp <- if (is.null(w$Z)) a$QMp else a$QSp
  est <- if (is.null(w$Z)) a$Xb else a$Za
  rows_of <- function(m) lapply(seq_len(nrow(m)), function(i) arr(m[i, ]))
  anovas[[id]] <- list(model = w$model, X = if (is.null(w$X)) NULL else rows_of(w$X),
                       Z = if (is.null(w$Z)) NULL else rows_of(w$Z),
                       rhs = if (is.null(w$rhs)) NULL else arr(w$rhs),
                       expected = list(q = sc(q), df = sc(qdf[1]), df2 = sc(qdf[2]),
                                       pvalue = sc(qp), estimate = arr(as.numeric(est)),
                                       se = arr(a$se), statistic = arr(a$zval),
                                       pval = arr(a$pval), hypotheses = as.list(trimws(a$hyp[[1]]))))
}

# predict: fitted values, new location and scale values (one scale row for several location
# rows too), the scale's linear predictor alone (also exponentiated, and without its
# intercept), with z and t quantiles
predictions <- list(
  fitted = list(model = list("bangertdrowns", "~ meta", "~ meta")),
  both = list(model = list("bangertdrowns", "~ meta", "~ meta"), newmods = c(0, 1),
              newscale = c(0, 1)),
  scale_only = list(model = list("bangertdrowns", "~ meta", "~ meta"), newscale = c(0, 1)),
  scale_exp = list(model = list("bangertdrowns", "~ meta", "~ meta"), newscale = c(0, 1),
                   transf = "exp"),
  scale_no_intercept = list(model = list("bangertdrowns", "~ meta", "~ meta"), newscale = 1,
                            intercept = FALSE),
  t_matrix = list(model = list("bangertdrowns", "~ meta + length", "~ meta", "REML", "t"),
                  newmods = rbind(c(1, 5), c(0, 10)), newscale = 1),
  t_scale = list(model = list("bangertdrowns", "~ meta + length", "~ meta", "REML", "t"),
                 newscale = c(0, 1)),
  factor_scale = list(model = list("bcg", "~ ablat", "~ alloc"),
                      newscale = rbind(c(0, 0), c(1, 0), c(0, 1)))
)
predicted <- list()
for (id in names(predictions)) {
  pr <- predictions[[id]]
  res <- do.call(fit_ls, pr$model)
  args <- list(res)
  if (!is.null(pr$newmods)) args$newmods <- pr$newmods
  if (!is.null(pr$newscale)) args$newscale <- pr$newscale
  if (!is.null(pr$intercept)) args$intercept <- pr$intercept
  if (!is.null(pr$transf)) args$transf <- exp
  out <- do.call(predict, args)
  rows_of <- function(m) if (is.null(m)) NULL else
    lapply(seq_len(NROW(m)), function(i) arr(if (is.matrix(m)) m[i, ] else m[i]))
  predicted[[id]] <- list(model = pr$model, newmods = rows_of(pr$newmods),
                          newscale = rows_of(pr$newscale),
                          intercept = if (is.null(pr$intercept)) TRUE else pr$intercept,
                          transf = if (is.null(pr$transf)) "" else pr$transf,
                          expected = list(pred = arr(out$pred), se = arr(out$se),
                                          ci_low = arr(out$ci.lb), ci_high = arr(out$ci.ub),
                                          pi_low = arr(out$pi.lb), pi_high = arr(out$pi.ub)))
}

# permutest (exact): dat.bcg with two binary moderators, north (ablat > 40) in the location and
# early (year < 1960) in the scale: all 1716 orders of the location rows and 286 of the scale
# rows; and its first 8 trials with an intercept-only location (256 sign patterns) and early in
# the scale (56 orders). Refits metafor cannot make are left out of its p-values (NA).
bcg2 <- data.frame(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi),
                   north = as.numeric(bcg$ablat > 40), early = as.numeric(bcg$year < 1960))
perm_cases <- list(north_early = list(rows = 13, mods = "~ north", scale = "~ early"),
                   int_early8 = list(rows = 8, mods = "~ 1", scale = "~ early"))
permutations <- list()
for (id in names(perm_cases)) {
  pc <- perm_cases[[id]]
  d <- bcg2[seq_len(pc$rows), ]
  res <- rma(yi, vi, mods = as.formula(pc$mods), scale = as.formula(pc$scale), data = d)
  pt <- permutest(res, exact = TRUE, progbar = FALSE)
  permutations[[id]] <- c(pc, list(data = as.list(d), expected = list(
    pval = arr(pt$pval), qm_pvalue = sc(pt$QMp), pval_alpha = arr(pt$pval.alpha),
    qs_pvalue = sc(pt$QSp), iter = sc(length(pt$QM.perm)),
    iter_alpha = sc(length(pt$QS.perm)),
    failed = sc(sum(is.na(pt$QM.perm))), failed_alpha = sc(sum(is.na(pt$QS.perm))))))
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/location_scale.R", datasets = sets, cases = cases,
            anova = anovas, predict = predicted, permutest = permutations)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
