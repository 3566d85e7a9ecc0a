# Edge cases of rma.mh and rma.peto's heterogeneity statistics (tests/test_binary.py):
#  - Peto with one study that has a per-study effect (k.yi = 1) but two tables in the estimate
#    (k.pos = 2): the second element of add/to keeps a double-zero study out of yi only;
#  - MH with a study of zero sampling variance (RD of 5/5 vs 7/7, IRD of 0/100 vs 0/120, no
#    correction, nothing dropped): QE is infinite.
# Run from the repository root: Rscript tests/reference/mh_peto_edge.R -> mh_peto_edge.json
suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

het <- function(r) list(estimate = sc(r$beta), se = sc(r$se), QE = sc(r$QE), QEp = sc(r$QEp),
                        I2 = sc(r$I2), H2 = sc(r$H2), k_yi = sc(r$k.yi),
                        QE_inf = is.infinite(r$QE), H2_inf = is.infinite(r$H2))
none <- list(add = c(0, 0), to = c("none", "none"), drop00 = c(FALSE, FALSE))
peto <- list(ai = c(0, 3), n1i = c(10, 20), ci = c(0, 5), n2i = c(10, 20))
rd <- list(ai = c(5, 10, 6), n1i = c(5, 40, 30), ci = c(7, 12, 9), n2i = c(7, 40, 30))
ird <- list(x1i = c(0, 4, 6), t1i = c(100, 300, 250), x2i = c(0, 9, 7), t2i = c(120, 280, 260))
out <- list(
  R = R.version.string, metafor = as.character(packageVersion("metafor")),
  peto_one_effect = c(peto, het(suppressWarnings(
    rma.peto(ai = peto$ai, n1i = peto$n1i, ci = peto$ci, n2i = peto$n2i, add = c(0.5, 0.5),
             to = c("only0", "all"))))),
  mh_rd_zero_variance = c(rd, het(suppressWarnings(do.call(rma.mh, c(rd, list(measure = "RD"), none))))),
  mh_ird_zero_variance = c(ird, het(suppressWarnings(do.call(rma.mh, c(ird, list(measure = "IRD"), none)))))
)
writeLines(to_json(out), "tests/reference/mh_peto_edge.json")
