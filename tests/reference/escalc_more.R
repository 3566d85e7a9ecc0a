# Reference values for the incidence, correlation and variability measures of
# metaanalysis.effects.escalc.
#
# Writes tests/reference/escalc_more.json: datasets (metafor's dat.hart1999 and dat.molloy2014,
# dat.normand1999 and dat.curtis1998 means and SDs, and small hand-made sets with zero counts,
# double-zero studies, r = +-1 and n <= 4) and, for every case, escalc()'s yi and vi (NA written
# as null) for one measure and one choice of add / to / drop00 / vtype:
#   IRR, IRD, IRSD (x1i, t1i, x2i, t2i); IR, IRLN, IRS, IRFT (xi, ti); COR, UCOR, ZCOR (ri, ni);
#   SMDH, CVR, VR (m1i, sd1i, n1i, m2i, sd2i, n2i).
# Numbers are written with 17 significant digits ("%.17g").
#
# Run from the repository root:   Rscript tests/reference/escalc_more.R
# Pinned: R >= 4.2, metafor 3.8-1; gsl (metafor's UCOR and its UB variance call gsl::hyperg_2F1;
# Debian: r-cran-gsl). Versions are recorded in the JSON.

suppressPackageStartupMessages({library(metafor); library(gsl)})

out_path <- "tests/reference/escalc_more.json"
source("tests/reference/_json_writer.R")

incidence <- list()
incidence$hart1999 <- with(dat.hart1999, list(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i))
incidence$zeros <- list(x1i = c(0, 3, 0, 7, 2), t1i = c(120.5, 80, 45.2, 300, 60),
                        x2i = c(2, 0, 0, 11, 5), t2i = c(110, 95.5, 50, 310.25, 58))
set.seed(41)
incidence$gen_k12 <- list(x1i = rpois(12, 4), t1i = round(runif(12, 20, 400), 2),
                          x2i = rpois(12, 6), t2i = round(runif(12, 20, 400), 2))

one_rate <- list()
one_rate$hart1999_arm1 <- with(dat.hart1999, list(xi = x1i, ti = t1i))
one_rate$zeros <- list(xi = c(0, 3, 0, 7, 12), ti = c(120.5, 80, 45.2, 300, 60))

correlation <- list()
correlation$molloy2014 <- with(dat.molloy2014, list(ri = ri, ni = ni))
correlation$edges <- list(ri = c(0.999, -0.95, 0, 0.3, 1, -1, 0.5, 0.2, -0.4),
                          ni = c(30, 12, 50, 5, 20, 15, 3, 4, 6))
set.seed(42)
correlation$gen_k20 <- list(ri = round(runif(20, -0.9, 0.9), 3), ni = sample(6:400, 20))

continuous <- list()
continuous$normand1999 <- with(dat.normand1999, list(m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i))
continuous$curtis1998 <- with(dat.curtis1998, list(m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i))
continuous$small <- list(m1i = c(10.2, 8.1, 3.3), sd1i = c(2.1, 3.3, 0.4), n1i = c(3, 12, 2),
                         m2i = c(9.1, 8.9, 2.2), sd2i = c(1.8, 2.5, 0.9), n2i = c(2, 15, 4))

cases <- list()
add_case <- function(id, family, dataset, measure, opts) {
  d <- switch(family, incidence = incidence[[dataset]], one_rate = one_rate[[dataset]],
              correlation = correlation[[dataset]], continuous = continuous[[dataset]])
  if (measure == "VR") d <- d[c("sd1i", "n1i", "sd2i", "n2i")]
  args <- c(list(measure = measure), d, opts)
  res <- suppressWarnings(do.call(escalc, args))
  cases[[id]] <<- list(family = family, dataset = dataset, measure = measure,
                       options = opts, yi = arr(res$yi), vi = arr(res$vi))
}

count_opts <- list(default = list(), all = list(add = 1/2, to = "all"), if0all = list(add = 1/2, to = "if0all"),
                   none = list(to = "none"), add1 = list(add = 1, to = "only0"))
for (ds in names(incidence)) for (m in c("IRR", "IRD", "IRSD")) {
  for (o in names(count_opts)) add_case(paste("escalc", ds, m, o, sep = "_"), "incidence", ds, m, count_opts[[o]])
  add_case(paste("escalc", ds, m, "drop00", sep = "_"), "incidence", ds, m, list(drop00 = TRUE))
}
for (ds in names(one_rate)) for (m in c("IR", "IRLN", "IRS", "IRFT")) for (o in names(count_opts)) {
  add_case(paste("escalc", ds, m, o, sep = "_"), "one_rate", ds, m, count_opts[[o]])
}
cor_vtypes <- list(COR = c("LS", "AV"), UCOR = c("LS", "UB", "AV"), ZCOR = c("LS"))
for (ds in names(correlation)) for (m in names(cor_vtypes)) for (vt in cor_vtypes[[m]]) {
  add_case(paste("escalc", ds, m, paste0("vtype", vt), sep = "_"), "correlation", ds, m, list(vtype = vt))
}
cont_vtypes <- list(SMDH = c("LS", "LS2"), CVR = c("LS"), VR = c("LS"))
for (ds in names(continuous)) for (m in names(cont_vtypes)) for (vt in cont_vtypes[[m]]) {
  add_case(paste("escalc", ds, m, paste0("vtype", vt), sep = "_"), "continuous", ds, m, list(vtype = vt))
}

datasets <- list(incidence = lapply(incidence, function(d) lapply(d, arr)),
                 one_rate = lapply(one_rate, function(d) lapply(d, arr)),
                 correlation = lapply(correlation, function(d) lapply(d, arr)),
                 continuous = lapply(continuous, function(d) lapply(d, arr)))
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            versions = list(gsl = as.character(packageVersion("gsl"))),
            generated_by = "tests/reference/escalc_more.R", datasets = datasets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", length(cases), "cases to", out_path, "\n")
