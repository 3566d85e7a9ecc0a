# Reference values for metaanalysis.survival.onestage (cox_one_stage) and the two-stage comparison
# of metaanalysis.pooling.rmst (two_stage_vs_one_stage).
#
# Writes tests/reference/onestage.json: for groups of the two-arm data sets of tests/data/ipd/
# (arm 1 = arm a, arm 0 = arm b; each data set one "trial"),
#   - coxph(Surv(time, event) ~ arm + strata(trial)) with Efron ties (R's default): coef, se,
#     z, p, loglik;
#   - coxph(Surv(time, event) ~ arm) per trial, and metafor rma() of those log hazard ratios with
#     EE, REML and DL (z and knha).
#
# Run from the repository root:   Rscript tests/reference/onestage.R
# Pinned: R >= 4.2, survival 3.5-3, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(survival))
suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/onestage.json"
read_set <- function(n) read.csv(file.path("tests/data/ipd", paste0(n, ".csv")))

groups <- list(
  two = c("veteran", "pbc"),
  lung_myeloid = c("lung", "myeloid"),
  colon = c("colon_death", "colon_recurrence"),
  six = c("veteran", "lung", "colon_death", "pbc", "myeloid", "gbsg")
)

cases <- list()
for (g in names(groups)) {
  sets <- groups[[g]]
  d <- do.call(rbind, lapply(sets, function(n) cbind(read_set(n), trial = n)))
  f <- coxph(Surv(time, event) ~ arm + strata(trial), data = d, ties = "efron")
  s <- summary(f)$coefficients
  per <- lapply(sets, function(n) {
    fi <- coxph(Surv(time, event) ~ arm, data = read_set(n), ties = "efron")
    c(coef = sc(coef(fi)), se = sc(sqrt(vcov(fi))))
  })
  yi <- sapply(per, `[`, "coef"); vi <- sapply(per, `[`, "se")^2
  two <- list()
  for (method in c("EE", "REML", "DL")) for (test in c("z", "knha")) {
    if (method == "EE" && test == "knha") next
    r <- rma(yi, vi, method = method, test = test)
    two[[length(two) + 1]] <- list(method = method, test = test, estimate = sc(r$beta), se = sc(r$se),
                                   ci_low = sc(r$ci.lb), ci_high = sc(r$ci.ub), pvalue = sc(r$pval),
                                   tau2 = sc(r$tau2))
  }
  cases[[g]] <- list(
    trials = sets, n = f$n, events = f$nevent,
    coef = sc(s[1, "coef"]), se = sc(s[1, "se(coef)"]), z = sc(s[1, "z"]), pvalue = sc(s[1, "Pr(>|z|)"]),
    loglik = sc(f$loglik[2]), per_trial_coef = arr(yi), per_trial_se = arr(sqrt(vi)), two_stage = two)
}

out <- list(
  meta = list(R_version = R.version.string, survival_version = as.character(packageVersion("survival")),
              metafor_version = as.character(packageVersion("metafor"))),
  cases = cases)
writeLines(to_json(out), out_path)
