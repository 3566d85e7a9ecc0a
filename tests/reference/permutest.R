# Reference values for metaanalysis.pooling.permutation (metafor's permutest).
#
# Run from the repository root:   Rscript tests/reference/permutest.R
# Writes tests/reference/permutest.json (17 significant digits; NA and non-finite values as null).
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).
#
# Only exact tests are recorded (every sign pattern or distinct row order): they are deterministic,
# so ours must give the same p-values. metafor's random mode draws from R's generator, which we do
# not reproduce; the Python tests check our random mode against these exact p-values instead
# (case "bcg11_REML_z_all": all 2^11 sign patterns).

suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/permutest.json"

e <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
set.seed(2024)
g_vi <- runif(7, 0.02, 0.3)
g_yi <- rnorm(7, 0.25, sqrt(g_vi + 0.05))
set.seed(99)
h_vi <- runif(9, 0.01, 0.2)
h_yi <- rnorm(9, 0, sqrt(h_vi + 0.2))

cases <- list()
add_case <- function(name, yi, vi, mods, method, test, permci = FALSE, iter = 1000, exact = FALSE) {
  fit <- if (is.null(mods)) rma(yi, vi, method = method, test = test)
         else rma(yi, vi, mods = mods, method = method, test = test)
  pt <- suppressWarnings(permutest(fit, exact = exact, iter = iter, permci = permci, progbar = FALSE))
  stopifnot(isTRUE(pt$exact.iter <= iter) || exact)
  cases[[name]] <<- list(
    yi = arr(yi), vi = arr(vi),
    mods = if (is.null(mods)) NULL else lapply(seq_len(ncol(as.matrix(mods))), function(j) arr(as.matrix(mods)[, j])),
    method = method, test = test, permci = permci,
    coef = arr(fit$beta), zval = arr(fit$zval), pval_model = arr(fit$pval),
    pval = arr(pt$pval), QM = fit$QM, QMp = if (is.null(mods)) NA else pt$QMp,
    exact_iter = pt$exact.iter, n_failed = sum(is.na(as.matrix(pt$zval.perm)[, 1])),
    ci.lb = arr(pt$ci.lb), ci.ub = arr(pt$ci.ub))
}

# intercept-only models: sign flipping, 2^k patterns
for (m in c("REML", "DL", "EE", "PM", "ML")) for (tt in c("z", "knha")) {
  add_case(sprintf("bcg8_%s_%s", m, tt), e$yi[1:8], e$vi[1:8], NULL, m, tt)
  add_case(sprintf("gen7_%s_%s", m, tt), g_yi, g_vi, NULL, m, tt)
}
add_case("gen9_REML_z", h_yi, h_vi, NULL, "REML", "z", iter = 1000)
add_case("bcg6_REML_z_permci", e$yi[1:6], e$vi[1:6], NULL, "REML", "z", permci = TRUE)
add_case("gen7_DL_knha_permci", g_yi, g_vi, NULL, "DL", "knha", permci = TRUE)

# meta-regression: permuted rows of the model matrix, k! / prod(n_j!) distinct orders
for (m in c("REML", "DL", "EE")) for (tt in c("z", "knha")) {
  add_case(sprintf("bcg6_ablat_%s_%s", m, tt), e$yi[1:6], e$vi[1:6], dat.bcg$ablat[1:6], m, tt)
  add_case(sprintf("bcg10_late_%s_%s", m, tt), e$yi[1:10], e$vi[1:10],
           as.numeric(dat.bcg$year[1:10] > 1960), m, tt)
}
add_case("bcg6_ablat_year_REML_z", e$yi[1:6], e$vi[1:6], cbind(dat.bcg$ablat[1:6], dat.bcg$year[1:6]),
         "REML", "z")
rows <- c(1, 5, 6, 7, 10, 11, 12)  # alloc: random, alternate x 2, random, systematic x 3
add_case("bcg7_alloc_REML_knha", e$yi[rows], e$vi[rows],
         cbind(as.numeric(dat.bcg$alloc[rows] == "random"), as.numeric(dat.bcg$alloc[rows] == "systematic")),
         "REML", "knha")
add_case("bcg6_ablat_REML_z_permci", e$yi[1:6], e$vi[1:6], dat.bcg$ablat[1:6], "REML", "z", permci = TRUE)

# all 2^11 sign patterns of bcg rows 1-11: the truth for the random mode's Monte-Carlo check
add_case("bcg11_REML_z_all", e$yi[1:11], e$vi[1:11], NULL, "REML", "z", iter = 2048, exact = TRUE)

res <- list(meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                        script = "tests/reference/permutest.R"),
            cases = cases)
writeLines(to_json(res), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
