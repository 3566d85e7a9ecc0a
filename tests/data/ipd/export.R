# Export two-arm survival data sets of R's survival package to small CSV files for the
# reconstruction-accuracy benchmark and tests (benchmarks/bench_reconstruct_accuracy.py,
# tests/test_reconstruct_accuracy.py). Each file has the columns time, event (1 = event,
# 0 = censored) and arm (0 = control, 1 = experimental or the second group), one row per patient,
# in the data set's order. Run from the repository root:  Rscript tests/data/ipd/export.R
library(survival)

out <- "tests/data/ipd"
put <- function(name, time, event, arm) {
  keep <- !is.na(time) & !is.na(event) & !is.na(arm)
  d <- data.frame(time = time[keep], event = as.integer(event[keep]), arm = as.integer(arm[keep]))
  write.csv(d, file.path(out, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
}

# Veterans' Administration lung cancer trial: overall survival (days), standard vs test therapy
put("veteran", veteran$time, veteran$status, veteran$trt == 2)
# NCCTG advanced lung cancer: overall survival (days), men vs women
put("lung", lung$time, lung$status == 2, lung$sex == 2)
# Adjuvant colon cancer trial (Moertel 1990): observation vs levamisole + 5-FU (days)
rx <- colon$rx %in% c("Obs", "Lev+5FU")
rec <- colon[rx & colon$etype == 1, ]
put("colon_recurrence", rec$time, rec$status, rec$rx == "Lev+5FU")
dth <- colon[rx & colon$etype == 2, ]
put("colon_death", dth$time, dth$status, dth$rx == "Lev+5FU")
# Mayo primary biliary cholangitis trial: death (days), placebo vs D-penicillamine (randomised only)
p <- pbc[!is.na(pbc$trt), ]
put("pbc", p$time, p$status == 2, p$trt == 1)
# German Breast Cancer Study Group 2: recurrence-free survival (days), no hormone therapy vs hormone
put("gbsg", gbsg$rfstime, gbsg$status, gbsg$hormon == 1)
# Rotterdam breast cancer cohort: relapse (days), no chemotherapy vs chemotherapy
put("rotterdam_relapse", rotterdam$rtime, rotterdam$recur, rotterdam$chemo == 1)
# Acute myeloid leukaemia trial: overall survival (days), arm A vs B
put("myeloid", myeloid$futime, myeloid$death, myeloid$trt == "B")
# Chronic granulomatous disease trial: time to the first serious infection (days), placebo vs
# interferon gamma (a data set on which the generalised gamma has no interior maximum)
first <- cgd[cgd$enum == 1, ]
put("cgd_first", first$tstop, first$status, first$treat == "rIFN-g")

writeLines(c(paste("R", getRversion()), paste("survival", packageVersion("survival"))),
           file.path(out, "VERSIONS.txt"))
