# Writes the example datasets that metaanalysis.datasets loads, from the copies that metafor's
# examples use (metafor 3.8-1 attaches the metadat package, which holds them).
#
# Use, from the repository root:
#     Rscript metaanalysis/data/make_datasets.R                 # writes metaanalysis/data/*.csv
#     Rscript metaanalysis/data/make_datasets.R /some/folder    # writes there (the tests compare)
#
# Written with R 4.2.2, metafor 3.8-1, metadat 1.2-0. Each CSV is the data frame exactly as R
# prints it: same columns, same order, no row names. See README.md beside this script for the
# sources and the licence.

suppressPackageStartupMessages(library(metafor))  # attaches metadat, which holds dat.*

args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else file.path("metaanalysis", "data")
dir.create(out, showWarnings = FALSE, recursive = TRUE)

write_dataset <- function(data, name) {
  path <- file.path(out, paste0(name, ".csv"))
  utils::write.csv(data, path, row.names = FALSE, fileEncoding = "UTF-8")
  cat(sprintf("%s: %d rows, %d columns -> %s\n", name, nrow(data), ncol(data), path))
}

# BCG vaccine against tuberculosis, 13 trials (Colditz et al. 1994): two-by-two tables,
# absolute latitude and allocation method. metafor's escalc / rma / rma.mh examples.
write_dataset(dat.bcg, "bcg")
# Intravenous magnesium after acute myocardial infarction, 22 trials (Li et al. 2007): deaths and
# patients per arm. metafor's examples of rma(measure = "OR") and rare events.
write_dataset(dat.li2007, "li2007")
# Hyperdynamic therapy for cerebral vasospasm, 14 single-arm studies (Pritz 1997; Zhou et al. 1999):
# patients improved of patients treated. metafor's examples of proportions and rma.glmm.
write_dataset(dat.pritz1997, "pritz1997")

cat(sprintf("R %s, metafor %s, metadat %s\n", getRversion(), packageVersion("metafor"),
            packageVersion("metadat")))
