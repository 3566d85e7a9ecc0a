# The two-arm datasets shared by binary.R, effects.R and glmm.R: metafor's classics and generated sets
# (rare events, zero cells, double zeros, k = 2 ... 50). Each generator sets its own seed.
# Use: source("tests/reference/_two_arm_datasets.R") from the repository root, after
# library(metafor).

gen_two_arm <- function(k, p1, p2, nmin, nmax, seed) {
  set.seed(seed)
  n1 <- sample(nmin:nmax, k, replace = TRUE); n2 <- sample(nmin:nmax, k, replace = TRUE)
  list(ai = rbinom(k, n1, p1), n1i = n1, ci = rbinom(k, n2, p2), n2i = n2)
}
two_arm <- list()
two_arm$bcg <- with(dat.bcg, list(ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg))
two_arm$li2007 <- with(dat.li2007, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
two_arm$nielweise2007 <- with(dat.nielweise2007, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
two_arm$lee2004 <- with(dat.lee2004, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
two_arm$hine1989 <- with(dat.hine1989, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
two_arm$anand1999 <- with(dat.anand1999, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
two_arm$laopaiboon2015 <- with(dat.laopaiboon2015, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
two_arm$yusuf1985_t6 <- with(subset(dat.yusuf1985, table == "6" & !is.na(ai) & !is.na(ci)), list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
two_arm$axfors2021 <- with(dat.axfors2021, list(ai = hcq_arm_event, n1i = hcq_arm_total, ci = control_arm_event, n2i = control_arm_total))
# generated: rare events (zero cells, double zeros), k = 2 ... 50
two_arm$gen_k2 <- gen_two_arm(2, 0.10, 0.20, 20, 80, 1)
two_arm$gen_k3_rare <- gen_two_arm(3, 0.02, 0.04, 15, 60, 2)
two_arm$gen_k5_rare <- gen_two_arm(5, 0.01, 0.03, 10, 60, 3)
two_arm$gen_k10 <- gen_two_arm(10, 0.15, 0.25, 30, 200, 4)
two_arm$gen_k20_rare <- gen_two_arm(20, 0.01, 0.02, 20, 120, 5)
two_arm$gen_k50 <- gen_two_arm(50, 0.05, 0.08, 20, 300, 6)
two_arm$gen_allevents <- list(ai = c(10, 20, 5, 8), n1i = c(10, 20, 9, 12), ci = c(10, 18, 3, 8), n2i = c(10, 20, 10, 12))
two_arm$gen_double_zero <- list(ai = c(0, 2, 0, 5, 0), n1i = c(30, 40, 25, 60, 15), ci = c(0, 4, 1, 9, 0), n2i = c(28, 41, 25, 58, 16))
