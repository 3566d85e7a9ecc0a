# Reference values for metaanalysis.effects.escalc.
#
# Writes tests/reference/effects.json: the datasets (two-arm counts, one-arm counts, means and
# SDs; metafor's classics and generated sets with zero cells and double zeros, k = 2 to 50) and,
# for every case, metafor's escalc() yi and vi (NA written as null) for one measure and one choice
# of add / to / drop00 / vtype. Numbers are written with 17 significant digits ("%.17g").
#
# Run from the repository root:   Rscript tests/reference/effects.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/effects.json"

# ---- JSON with 17 significant digits (jsonlite rounds to 15) ----
source("tests/reference/_json_writer.R")

# ---- datasets ----
gen_one_arm <- function(k, p, nmin, nmax, seed) {
  set.seed(seed)
  n <- sample(nmin:nmax, k, replace = TRUE)
  list(xi = rbinom(k, n, p), ni = n)
}

source("tests/reference/_two_arm_datasets.R")

one_arm <- list()
one_arm$pritz1997 <- with(dat.pritz1997, list(xi = xi, ni = ni))
one_arm$debruin2009 <- with(dat.debruin2009, list(xi = xi, ni = ni))
one_arm$gen_k2 <- gen_one_arm(2, 0.3, 10, 50, 11)
one_arm$gen_k5_zero <- list(xi = c(0, 3, 1, 0, 7), ni = c(12, 30, 25, 8, 40))
one_arm$gen_k10_full <- list(xi = c(12, 20, 5, 9, 30, 14, 7, 18, 25, 10), ni = c(12, 25, 9, 9, 41, 20, 10, 22, 25, 16))
one_arm$gen_k20 <- gen_one_arm(20, 0.15, 5, 100, 12)
one_arm$gen_k50 <- gen_one_arm(50, 0.6, 10, 300, 13)

continuous <- list()
continuous$normand1999 <- with(dat.normand1999, list(m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i))
continuous$curtis1998 <- with(dat.curtis1998, list(m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i))
set.seed(21)
continuous$gen_k2 <- list(m1i = c(10.2, 8.1), sd1i = c(2.1, 3.3), n1i = c(3, 12), m2i = c(9.1, 8.9), sd2i = c(1.8, 2.5), n2i = c(2, 15))
# a study of 3 patients (2 + 1): its SMD is undefined (the small-sample factor needs 2 degrees of
# freedom), but metafor still gives it the AV variance, which rests on the other studies' mean
continuous$gen_k4_n3 <- list(m1i = c(1, 2, 1.5, 3), sd1i = c(1, 1, 2, 1), n1i = c(2, 10, 12, 5), m2i = c(0.5, 1, 1, 2), sd2i = c(1, 1.2, 1, 1), n2i = c(1, 12, 10, 6))

# ---- the grid ----
cases <- list()
add_case <- function(id, family, dataset, measure, opts) {
  d <- switch(family, two_arm = two_arm[[dataset]], one_arm = one_arm[[dataset]], continuous = continuous[[dataset]])
  args <- c(list(measure = measure), d, opts)
  res <- suppressWarnings(do.call(escalc, args))
  cases[[id]] <<- list(family = family, dataset = dataset, measure = measure,
                       options = opts, yi = arr(res$yi), vi = arr(res$vi))
}

two_arm_opts <- list(
  default = list(),
  all = list(add = 1/2, to = "all"),
  if0all = list(add = 1/2, to = "if0all"),
  none = list(to = "none"),
  drop00 = list(drop00 = TRUE),
  add1 = list(add = 1, to = "only0")
)
for (ds in names(two_arm)) for (m in c("OR", "RR", "RD", "PETO")) for (o in names(two_arm_opts)) {
  add_case(paste("escalc", ds, m, o, sep = "_"), "two_arm", ds, m, two_arm_opts[[o]])
}
for (ds in names(two_arm)) for (vt in c("UB", "AV")) {
  add_case(paste("escalc", ds, "RD", paste0("vtype", vt), sep = "_"), "two_arm", ds, "RD", list(vtype = vt))
}

one_arm_opts <- list(default = list(), all = list(add = 1/2, to = "all"), if0all = list(add = 1/2, to = "if0all"),
                     none = list(to = "none"), add_pft = list(add = 1/2))
for (ds in names(one_arm)) for (m in c("PR", "PLN", "PLO", "PAS", "PFT")) for (o in names(one_arm_opts)) {
  add_case(paste("escalc", ds, m, o, sep = "_"), "one_arm", ds, m, one_arm_opts[[o]])
}
for (ds in names(one_arm)) {
  for (vt in c("UB", "AV")) add_case(paste("escalc", ds, "PR", paste0("vtype", vt), sep = "_"), "one_arm", ds, "PR", list(vtype = vt))
  for (m in c("PLO", "PLN")) add_case(paste("escalc", ds, m, "vtypeAV", sep = "_"), "one_arm", ds, m, list(vtype = "AV"))
}

cont_vtypes <- list(MD = c("LS", "UB", "HO"), SMD = c("LS", "UB", "LS2", "AV"), ROM = c("LS", "HO", "AV", "AVHO"))
for (ds in names(continuous)) for (m in names(cont_vtypes)) for (vt in cont_vtypes[[m]]) {
  add_case(paste("escalc", ds, m, paste0("vtype", vt), sep = "_"), "continuous", ds, m, list(vtype = vt))
}

datasets <- list(two_arm = lapply(two_arm, function(d) lapply(d, arr)),
                 one_arm = lapply(one_arm, function(d) lapply(d, arr)),
                 continuous = lapply(continuous, function(d) lapply(d, arr)))
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/effects.R", datasets = datasets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", length(cases), "cases to", out_path, "\n")
