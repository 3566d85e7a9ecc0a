# Reference values for LocationScaleResult.confint: profile-likelihood intervals of the scale
# coefficients of a location-scale model (log and identity link), metafor's confint.rma.ls.
#
# Writes tests/reference/location_scale_confint.json. The models are fitted with the tight
# optimiser of location_scale.R (optim BFGS, reltol 1e-14), which confint's refits inherit, and
# the root search runs to tol 1e-12 (metafor's default, .Machine$double.eps^0.25, stops about
# 1e-4 from the bound). For every alpha: the estimate, ci.lb and ci.ub, and lb.sign / ub.sign
# ("<" or ">" where the statistic did not reach the quantile within metafor's search range, so
# the number is the end of that range, not a bound), and the range searched, metafor's rule:
# alpha -/+ min(10 |alpha|, 10 z se(alpha)).
# Also, for LocationScaleResult.profile, metafor's profile.rma.ls of every alpha over its default
# range (alpha +/- 2.576 se) in 7 steps, and of one alpha over a given range: at each value the
# (restricted) log-likelihood and the location coefficients with their intervals (test "knha"
# in one more model, so that the refits' intervals carry the adjustment).
#
# Run from the repository root:   Rscript tests/reference/location_scale_confint.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/location_scale_confint.json"
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
                        method = "REML", level = 95),
  meta_meta_ml = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                      method = "ML", level = 95),
  int_length_reml = list(dataset = "bangertdrowns", mods = "~ 1", scale = "~ length",
                         method = "REML", level = 95),
  int_length_90 = list(dataset = "bangertdrowns", mods = "~ 1", scale = "~ length",
                       method = "REML", level = 90),
  bcg_int_ablat = list(dataset = "bcg", mods = "~ 1", scale = "~ ablat", method = "REML",
                       level = 95),
  bcg_ablat_alloc = list(dataset = "bcg", mods = "~ ablat", scale = "~ alloc", method = "REML",
                         level = 95),
  # the identity link: metafor fits it with constrOptim, a barrier method that stops about 1e-4
  # (relative) from the optimum, and its intervals inherit that
  id_int_length = list(dataset = "bangertdrowns", mods = "~ 1", scale = "~ length",
                       method = "REML", level = 95, link = "identity"),
  id_meta_meta = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                      method = "REML", level = 95, link = "identity"),
  knha_meta_meta = list(dataset = "bangertdrowns", mods = "~ meta", scale = "~ meta",
                        method = "REML", level = 95, test = "knha")
)
# profiles over a given range as well: (case, alpha, range)
given <- list(list(case = "bcg_int_ablat", alpha = 2, xlim = c(-0.3, 0.25)),
              list(case = "meta_meta_ml", alpha = 1, xlim = c(-3, 0)))
profiled <- function(res, alpha, xlim = NULL) {
  args <- list(res, alpha = alpha, steps = 7, progbar = FALSE, plot = FALSE)
  if (!is.null(xlim)) args$xlim <- xlim
  pr <- suppressWarnings(do.call(profile, args))
  list(alpha_position = alpha, grid = arr(pr$alpha), ll = arr(pr$ll),
       beta = lapply(seq_len(nrow(pr$beta)), function(i) arr(pr$beta[i, ])),
       ci_low = lapply(seq_len(nrow(pr$ci.lb)), function(i) arr(pr$ci.lb[i, ])),
       ci_high = lapply(seq_len(nrow(pr$ci.ub)), function(i) arr(pr$ci.ub[i, ])))
}

cases <- list()
for (id in names(fits)) {
  f <- fits[[id]]
  d <- as.data.frame(sets[[f$dataset]])
  link <- if (is.null(f$link)) "log" else f$link
  f$link <- link
  test <- if (is.null(f$test)) "z" else f$test
  res <- suppressWarnings(rma(yi, vi, mods = as.formula(f$mods), scale = as.formula(f$scale),
                              data = d, method = f$method, level = f$level, link = link,
                              test = test, control = tight))
  ci <- confint(res, control = list(tol = 1e-12))
  # one alpha gives a confint.rma, several a list of them
  cis <- if (inherits(ci, "confint.rma")) list(ci) else ci[seq_len(length(res$alpha))]
  z <- qnorm((1 - f$level / 100) / 2, lower.tail = FALSE)
  vc <- as.numeric(res$alpha)
  se <- as.numeric(res$se.alpha)
  cases[[id]] <- c(f, list(expected = list(
    alpha = arr(vc), loglik = sc(logLik(res)),
    ci_low = arr(sapply(cis, function(x) x$random[1, "ci.lb"])),
    ci_high = arr(sapply(cis, function(x) x$random[1, "ci.ub"])),
    lb_sign = sapply(cis, function(x) x$lb.sign),
    ub_sign = sapply(cis, function(x) x$ub.sign),
    search_low = arr(pmax(vc - 10 * abs(vc), vc - 10 * z * se)),
    search_high = arr(pmin(vc + 10 * abs(vc), vc + 10 * z * se)),
    profiles = c(lapply(seq_along(vc), function(a) profiled(res, a)),
                 lapply(Filter(function(g) g$case == id, given),
                        function(g) c(profiled(res, g$alpha, g$xlim), list(xlim = arr(g$xlim))))))))
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/location_scale_confint.R", datasets = sets,
            cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
