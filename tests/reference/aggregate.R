# Reference values for metaanalysis.effects.aggregate_effects (metafor's aggregate.escalc).
#
# Writes tests/reference/aggregate.json: several effect sizes per study combined into one per
# study, from dat.assink2016 (100 effects in 17 studies) with its rows shuffled (seed 20261207) and
# the studies named as text, so that the order of the output is tested, and from
# dat.konstantopoulos2011 (56 effects in 11 districts): compound symmetry with rho 0.6 and 0
# (struct "ID"), inverse-variance weighted (GLS) and unweighted, and a covariance matrix from vcalc
# passed as V. Numbers with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/aggregate.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/aggregate.json"
source("tests/reference/_json_writer.R")

set.seed(20261207)
a <- dat.assink2016[sample(nrow(dat.assink2016)), ]
a$study <- sprintf("s%02d", a$study)
a <- escalc(yi = yi, vi = vi, data = a)
k <- dat.konstantopoulos2011
k$district <- paste0("d", k$district)
k <- escalc(yi = yi, vi = vi, data = k)
sets <- list(assink = list(yi = as.numeric(a$yi), vi = as.numeric(a$vi), cluster = a$study,
                           esid = a$esid),
             konstantopoulos = list(yi = as.numeric(k$yi), vi = as.numeric(k$vi),
                                    cluster = k$district, esid = k$school))

record <- function(g, clusters) list(cluster = as.character(g[[clusters]]), yi = arr(g$yi),
                                     vi = arr(g$vi))
cases <- list()
for (ds in names(sets)) {
  d <- if (ds == "assink") a else k
  cl <- if (ds == "assink") "study" else "district"
  cases[[paste(ds, "rho06", sep = "_")]] <- list(dataset = ds, rho = 0.6, weighted = TRUE,
    expected = record(aggregate(d, cluster = d[[cl]], rho = 0.6), cl))
  cases[[paste(ds, "rho06_unweighted", sep = "_")]] <- list(dataset = ds, rho = 0.6,
    weighted = FALSE,
    expected = record(aggregate(d, cluster = d[[cl]], rho = 0.6, weighted = FALSE), cl))
  cases[[paste(ds, "independent", sep = "_")]] <- list(dataset = ds, rho = 0, weighted = TRUE,
    expected = record(aggregate(d, cluster = d[[cl]], struct = "ID"), cl))
  V <- vcalc(vi, cluster = d[[cl]], obs = seq_len(nrow(d)), rho = 0.3, data = d)
  cases[[paste(ds, "V", sep = "_")]] <- list(dataset = ds, rho = 0.3, weighted = TRUE, V = TRUE,
    expected = record(aggregate(d, cluster = d[[cl]], V = V), cl))
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/aggregate.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
