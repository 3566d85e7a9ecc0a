# Reference values for metaanalysis.pooling.bias.binary_bias_test: the Harbord and Peters tests of
# small-study effects for odds ratios (Cochrane Handbook 13.3.5; R package meta's metabias methods
# "Harbord" and "Peters"), composed from metafor's regtest as the papers define them.
#
# - Harbord et al. (2006): the efficient score Z = a - (a + c) n1 / n and its variance
#   V = n1 n2 (a + c)(b + d) / (n^2 (n - 1)) of each 2x2 table; Egger's test (weighted least
#   squares with a multiplicative dispersion, metafor's regtest(model = "lm")) applied to the
#   effects Z / V with sampling variances 1 / V; tables with V = 0 carry no information.
# - Peters et al. (2006): the log odds ratio (escalc, 1/2 added to the cells of tables with a
#   zero cell; tables without events, or with only events, in both arms left out) regressed on
#   1 / n with weights d h / n (d events, h non-events, n patients of both arms):
#   regtest(model = "lm", predictor = "ninv") with sampling variances 1/d + 1/h.
#
# R package meta (which has both) is not in Debian; this composes metafor's regtest the same way.
# Writes tests/reference/binary_bias.json: the test statistic, its df and p-value, the
# coefficient of the predictor with its standard error, and the limit estimate with its
# interval. Numbers with 17 significant digits.
#
# Run from the repository root:   Rscript tests/reference/binary_bias.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))

out_path <- "tests/reference/binary_bias.json"
source("tests/reference/_json_writer.R")

y <- dat.yusuf1985[!is.na(dat.yusuf1985$ai), ]  # trials listed without their counts left out
sets <- list(
  bcg = with(dat.bcg, list(ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg)),
  li2007 = with(dat.li2007, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i)),
  yusuf1985_6 = with(y[y$table == "6", ], list(ai = ai, n1i = n1i, ci = ci, n2i = n2i)),
  yusuf1985_9 = with(y[y$table == "9", ], list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
)
set.seed(20261207)
for (k in c(12, 30)) {
  n1 <- sample(20:400, k, replace = TRUE); n2 <- sample(20:400, k, replace = TRUE)
  p2 <- runif(k, 0.02, 0.3); p1 <- plogis(qlogis(p2) - 0.4 + 3 / sqrt(n1 + n2))
  sets[[paste0("gen", k)]] <- list(ai = rbinom(k, n1, p1), n1i = n1, ci = rbinom(k, n2, p2),
                                   n2i = n2)
}

record <- function(r, kept) {
  cf <- coef(summary(r$fit))
  list(statistic = sc(r$zval), df = sc(r$dfs), pvalue = sc(r$pval),
       slope = sc(cf[2, 1]), se_slope = sc(cf[2, 2]), estimate = sc(r$est),
       ci_low = sc(r$ci.lb), ci_high = sc(r$ci.ub), kept = arr(which(kept) - 1))
}

cases <- list()
for (ds in names(sets)) {
  d <- sets[[ds]]
  # doubles: the products of the score's variance overflow R's integers (n in the 100,000s)
  a <- as.numeric(d$ai); c <- as.numeric(d$ci); n1 <- as.numeric(d$n1i); n2 <- as.numeric(d$n2i)
  b <- n1 - a; dd <- n2 - c; n <- n1 + n2
  for (lev in c(95, 90)) {
    Z <- a - (a + c) * n1 / n
    V <- n1 * n2 * (a + c) * (b + dd) / (n^2 * (n - 1))
    keep <- V > 0
    h <- regtest(Z[keep] / V[keep], 1 / V[keep], model = "lm", level = lev)
    cases[[paste("harbord", ds, lev, sep = "_")]] <- list(dataset = ds, test = "harbord",
                                                         level = lev, expected = record(h, keep))
    es <- escalc("OR", ai = a, n1i = n1, ci = c, n2i = n2, add = 1/2, to = "only0", drop00 = TRUE)
    keep <- !is.na(es$yi) & (a + c) > 0 & (b + dd) > 0
    vp <- 1 / (a + c) + 1 / (b + dd)
    p <- regtest(es$yi[keep], vp[keep], ni = n[keep], predictor = "ninv", model = "lm",
                 level = lev)
    cases[[paste("peters", ds, lev, sep = "_")]] <- list(dataset = ds, test = "peters",
                                                        level = lev, expected = record(p, keep))
  }
}

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/binary_bias.R", datasets = sets, cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(cases), "cases\n")
