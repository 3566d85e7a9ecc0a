# Reference values for metaanalysis.pooling.multilevel.profile_mv and MultilevelResult.confint
# (metafor's profile.rma.mv and confint.rma.mv for variance components).
#
# Writes tests/reference/profile_mv.json: for dat.konstantopoulos2011 (schools in districts,
# ~ 1 | district/school; REML and ML) and dat.berkey1998 (two outcomes of each trial,
# ~ outcome | trial with struct "CS", the covariance from vcalc), the profile of each variance
# component (and the correlation of the CS structure) over metafor's default range (20 values)
# and its profile-likelihood confidence
# interval (confint, uniroot at tol 1e-10 instead of metafor's 1.2e-4). Numbers with 17
# significant digits.
#
# Run from the repository root:   Rscript tests/reference/profile_mv.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/profile_mv.json"
source("tests/reference/_json_writer.R")

k11 <- dat.konstantopoulos2011
b98 <- dat.berkey1998
Vb <- vcalc(vi = 1, cluster = author, rvars = c(v1i, v2i), data = b98)
sets <- list(konstantopoulos = list(yi = k11$yi, vi = k11$vi, district = k11$district,
                                    school = k11$school),
             berkey = list(yi = b98$yi, V = lapply(seq_len(nrow(Vb)), function(i) arr(Vb[i, ])),
                           outcome = as.character(b98$outcome), trial = b98$trial))

prof <- function(res, comp, j) {
  p <- do.call(profile, c(list(res, plot = FALSE, progbar = FALSE), setNames(list(j), comp)))
  ci <- do.call(confint, c(list(res, control = list(tol = 1e-10)), setNames(list(j), comp)))
  r <- ci$random
  list(grid = arr(p[[comp]]), ll = arr(p$ll), xlim = arr(p$xlim),
       ci = arr(r[1, ]), maxll = sc(logLik(res)))
}

cases <- list()
for (m in c("REML", "ML")) {
  res <- rma.mv(yi, vi, random = ~ 1 | district/school, data = k11, method = m)
  for (j in 1:2) {
    cases[[paste("konstantopoulos", m, "sigma2", j, sep = "_")]] <- c(
      list(dataset = "konstantopoulos", method = m, component = paste0("sigma2.", j),
           estimate = sc(res$sigma2[j])), prof(res, "sigma2", j))
  }
}
res <- rma.mv(yi, Vb, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "CS", data = b98)
cases[["berkey_REML_tau2_1"]] <- c(list(dataset = "berkey", method = "REML", component = "tau2.1",
                                        estimate = sc(res$tau2)), prof(res, "tau2", 1))
cases[["berkey_REML_rho_1"]] <- c(list(dataset = "berkey", method = "REML", component = "rho.1",
                                       estimate = sc(res$rho)), prof(res, "rho", 1))

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/profile_mv.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
