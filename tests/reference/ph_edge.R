# Edge cases of the proportional-hazards check and the Cox fit (tests/test_ph.py):
#  - cox.zph on two data sets where plot.cox.zph's default spline (ns, df = 4) is singular:
#    "tiny" (2 events in all: fewer events than spline columns) and "ties" (50 of 70 events at
#    the first time, so both interior knots fall on the lower boundary knot). For each, the
#    largest df whose basis has full rank (qr rank = df) and the smooth plot.cox.zph draws with
#    it (recomputed as plot.cox.zph does: ns on the 40-point grid and the data together);
#  - coxph on data with a monotone partial likelihood (both arms have events, all of arm a's
#    while arm a has patients at risk): R warns that the coefficient may be infinite.
# Run from the repository root: Rscript tests/reference/ph_edge.R  -> tests/reference/ph_edge.json
suppressPackageStartupMessages(library(survival))
source("tests/reference/_json_writer.R")

mk <- function(ta, ea, tb, eb) data.frame(time = c(ta, tb), status = c(ea, eb),
                                           arm = c(rep(1, length(ta)), rep(0, length(tb))))
data_sets <- list(
  tiny = mk(c(1, 2, 3, 4, 5), c(1, 0, 0, 0, 0), c(1.5, 2.5, 3.5, 4.5), c(0, 1, 0, 0)),
  ties = mk(c(rep(1, 25), 2:16), c(rep(1, 25), rep(c(1, 0), 7), 1),
            c(rep(1, 25), 2:16), c(rep(1, 25), rep(c(0, 1), 7), 0))
)

smooth_at <- function(z, df) {
  xx <- z$x; yy <- z$y[, 1]
  pred_x <- seq(min(xx), max(xx), length.out = 40)
  lmat <- if (df >= 2) splines::ns(c(pred_x, xx), df = df, intercept = TRUE)
          else matrix(1, 40 + length(xx), 1)
  pmat <- lmat[1:40, , drop = FALSE]; xmat <- lmat[-(1:40), , drop = FALSE]
  qmat <- qr(xmat)
  if (qmat$rank < df) return(NULL)
  yhat <- drop(pmat %*% qr.coef(qmat, yy))
  bk <- backsolve(qmat$qr[1:df, 1:df, drop = FALSE], diag(df))
  seval <- drop(((pmat %*% bk %*% t(bk)) * pmat) %*% rep(1, df))
  half <- 2 * sqrt(z$var[1, 1] * seval)
  list(df = df, x = arr(pred_x), fit = arr(yhat), ci_low = arr(yhat - half), ci_high = arr(yhat + half))
}

zph <- list()
for (nm in names(data_sets)) {
  d <- data_sets[[nm]]
  fit <- coxph(Surv(time, status) ~ arm, data = d)
  z <- cox.zph(fit, transform = "km")
  sm <- NULL
  for (df in 4:1) { sm <- smooth_at(z, df); if (!is.null(sm)) break }
  zph[[nm]] <- list(ta = arr(d$time[d$arm == 1]), ea = arr(d$status[d$arm == 1]),
                    tb = arr(d$time[d$arm == 0]), eb = arr(d$status[d$arm == 0]),
                    chisq = sc(z$table[1, "chisq"]), p = sc(z$table[1, "p"]),
                    coef = sc(coef(fit)), singular_at_4 = (is.null(smooth_at(z, 4))), smooth = sm)
}

monotone <- list(
  list(ta = c(1, 2), ea = c(1, 1), tb = c(3, 4), eb = c(1, 1)),
  list(ta = c(1, 2, 3), ea = c(1, 1, 1), tb = c(1.5, 4), eb = c(0, 1)),
  list(ta = c(2, 2, 2, 2, 6, 6), ea = c(0, 1, 1, 1, 1, 1), tb = c(2, 8, 9, 9), eb = c(0, 1, 0, 0))
)
mono <- lapply(monotone, function(m) {
  d <- mk(m$ta, m$ea, m$tb, m$eb)
  warned <- FALSE
  fit <- withCallingHandlers(coxph(Surv(time, status) ~ arm, data = d),
                             warning = function(w) { if (grepl("infinite", conditionMessage(w))) warned <<- TRUE
                                                     invokeRestart("muffleWarning") })
  list(ta = arr(m$ta), ea = arr(m$ea), tb = arr(m$tb), eb = arr(m$eb), coef = sc(coef(fit)),
       warned_infinite = warned)
})

out <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
            zph = zph, monotone = mono)
writeLines(to_json(out), "tests/reference/ph_edge.json")
