# The univariate datasets shared by pooling.R and tau2_more.R: metafor's classics (escalc'd where
# needed) and seeded generated sets (k = 1 ... 50, tau2 = 0 ... 50, identical yi, a wide span of
# sampling variances). Each calls add(name, yi, vi, source), which the sourcing script defines.
# Use: source("tests/reference/_uni_datasets.R") from the repository root, after library(metafor).
e <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add("bcg", e$yi, e$vi, "dat.bcg, escalc RR")
add("hackshaw1998", dat.hackshaw1998$yi, dat.hackshaw1998$vi, "dat.hackshaw1998 (log OR)")
e <- escalc(measure = "PFT", xi = xi, ni = ni, data = dat.pritz1997)
add("pritz1997_pft", e$yi, e$vi, "dat.pritz1997, escalc PFT")
e <- escalc(measure = "PLO", xi = xi, ni = ni, data = dat.pritz1997)
add("pritz1997_plo", e$yi, e$vi, "dat.pritz1997, escalc PLO")
e <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
add("li2007", e$yi, e$vi, "dat.li2007, escalc OR (add 1/2 to zero cells)")
e <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
            data = dat.normand1999)
add("normand1999", e$yi, e$vi, "dat.normand1999, escalc MD")
e <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
add("molloy2014", e$yi, e$vi, "dat.molloy2014, escalc ZCOR")
add("raudenbush1985", dat.raudenbush1985$yi, dat.raudenbush1985$vi, "dat.raudenbush1985 (SMD)")
add("bangertdrowns2004", dat.bangertdrowns2004$yi, dat.bangertdrowns2004$vi, "dat.bangertdrowns2004 (SMD)")
add("begg1989", dat.begg1989$yi, dat.begg1989$vi, "dat.begg1989")
e <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.laopaiboon2015)
add("laopaiboon2015", e$yi, e$vi, "dat.laopaiboon2015, escalc RR")
e <- escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.nielweise2007)
add("nielweise2007_rd", e$yi, e$vi, "dat.nielweise2007, escalc RD")
e <- escalc(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = dat.hart1999)
add("hart1999", e$yi, e$vi, "dat.hart1999, escalc IRR")
e <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)
add("egger2001", e$yi, e$vi, "dat.egger2001, escalc OR")
e <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
            data = dat.curtis1998)
add("curtis1998_first50", e$yi[1:50], e$vi[1:50], "dat.curtis1998 rows 1-50, escalc ROM")
e <- escalc(measure = "PLO", xi = xi, ni = ni, data = dat.debruin2009)
add("debruin2009", e$yi, e$vi, "dat.debruin2009, escalc PLO")
add("konstantopoulos2011_first30", dat.konstantopoulos2011$yi[1:30], dat.konstantopoulos2011$vi[1:30],
    "dat.konstantopoulos2011 rows 1-30")

# generated: k = 1..50, tau2 = 0..large; seeded
ks <- c(2, 2, 3, 3, 4, 5, 5, 6, 7, 8, 10, 10, 12, 15, 15, 20, 20, 25, 30, 40, 50, 50)
t2s <- c(0, 0.5, 0, 2, 0.05, 0, 10, 0.2, 1, 0.01, 0, 0.3, 5, 0.1, 0, 0.5, 50, 0.02, 1, 0, 0.25, 4)
for (i in seq_along(ks)) {
  set.seed(1000 + i)
  k <- ks[i]
  vi <- runif(k, 0.005, 0.4) * ifelse(i %% 3 == 0, 10, 1)
  yi <- rnorm(k, mean = 0.3 * (i %% 4) - 0.4, sd = sqrt(vi + t2s[i]))
  add(sprintf("gen%02d_k%d_tau2_%g", i, k, t2s[i]), yi, vi, sprintf("set.seed(%d); tau2 = %g", 1000 + i, t2s[i]))
}
add("gen_identical_yi", rep(0.25, 6), c(0.01, 0.02, 0.05, 0.03, 0.04, 0.02), "identical yi")
add("gen_k1", 0.4, 0.05, "a single study")
set.seed(77)
add("gen_vi_ratio", rnorm(12, 0, 0.3), c(1e-4, 5e-4, 1e-3, 0.01, 0.05, 0.1, 0.5, 1, 2, 3, 4, 5),
    "sampling variances spanning 4.7 orders of magnitude")
