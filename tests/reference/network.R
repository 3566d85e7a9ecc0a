# Reference values for metaanalysis.network (contrast-based network meta-analysis).
#
# Writes tests/reference/network.json: for every network its input (arm-level or contrast-level
# rows exactly as the Python tests pass them) and the fits of metafor's rma.mv on the
# contrast-based model
#     rma.mv(yi, V, mods = X, intercept = FALSE, random = ~ comp | study, rho = 1/2)
# (X: basic parameters, every treatment against the reference; V: exact within-study covariance,
# multi-arm studies sharing the baseline arm's variance, Gleser & Olkin 2009 eq. 19.11):
#   EE   (common effect)  beta, se, vcov, QE, QEdf
#   REML and ML           tau2, beta, se, vcov, logLik
#   P-scores (Ruecker & Schwarzer 2015, closed form as in metafor's ?dat.senn2013) of the EE and
#   REML fits, small values good
# and netmeta's DL-type tau² computed independently, the way netmeta does it (all pairwise
# contrasts per study, Ruecker's reduced weights from the Laplacian pseudoinverse, then
# tau2 = (Q - df) / tr((I - H) (B B' o E / 2) W)), since netmeta itself cannot be installed here.
#
# Networks: dat.hasselblad1998 (arm-level OR, two 3-arm studies, loops; 1/2 added to all cells as
# in metafor's example), dat.senn2013 (contrast-level MD with the 3-arm Willms 1999 given as all
# three pairwise contrasts, as netmeta requires), a generated star network (HRs with 95%, 99%
# and 60% intervals against placebo), a generated loop network (arm-level OR with two 3-arm
# studies) and a generated continuous network (arm-level MD, one 4-arm study, loops).
#
# Numbers are written with 17 significant digits ("%.17g").
# Run from the repository root:   Rscript tests/reference/network.R
# Pinned: R >= 4.2, metafor 3.8-1, MASS (the versions used are recorded in the JSON).

suppressPackageStartupMessages({
  library(metafor)
  library(MASS)
})

out_path <- "tests/reference/network.json"

# ---- JSON with 17 significant digits (jsonlite rounds to 15) ----------------------------------
jnum <- function(x) ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.data.frame(x)) x <- as.list(x)
  if (is.matrix(x)) return(to_json(lapply(seq_len(nrow(x)), function(i) unname(x[i, ]))))
  if (is.list(x)) {
    nm <- names(x)
    if (is.null(nm)) return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
    items <- vapply(seq_along(x), function(i) paste0('"', nm[i], '":', to_json(x[[i]])), "")
    return(paste0("{", paste(items, collapse = ","), "}"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (is.character(x)) s <- ifelse(is.na(x), "null", paste0('"', gsub('"', '\\\\"', x), '"'))
  else if (is.logical(x)) s <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  else s <- jnum(as.numeric(x))
  if (length(s) == 1 && is.null(attr(x, "as_array"))) return(s)
  paste0("[", paste(s, collapse = ","), "]")
}
arr <- function(x) { attr(x, "as_array") <- TRUE; x }

# ---- contrast-based data from per-arm estimates and variances -----------------------------------
# arms: data.frame(study, trt, theta, v); levels: treatments, reference first.
# Baseline of a study = its arm earliest in `levels`.
contrasts_from_arms <- function(arms, levels) {
  rows <- list(); Vs <- list()
  for (s in unique(arms$study)) {
    a <- arms[arms$study == s, ]
    a <- a[order(match(a$trt, levels)), ]
    k <- nrow(a)
    rows[[length(rows) + 1]] <- data.frame(study = s, trt1 = a$trt[-1], trt2 = a$trt[1],
                                           yi = a$theta[-1] - a$theta[1],
                                           stringsAsFactors = FALSE)
    V <- matrix(a$v[1], k - 1, k - 1)
    diag(V) <- a$v[-1] + a$v[1]
    Vs[[length(Vs) + 1]] <- V
  }
  d <- do.call(rbind, rows)
  list(data = d, V = bldiag(Vs))
}

basic_X <- function(d, levels) {
  X <- matrix(0, nrow(d), length(levels) - 1, dimnames = list(NULL, levels[-1]))
  for (i in seq_len(nrow(d))) {
    if (d$trt1[i] != levels[1]) X[i, d$trt1[i]] <- X[i, d$trt1[i]] + 1
    if (d$trt2[i] != levels[1]) X[i, d$trt2[i]] <- X[i, d$trt2[i]] - 1
  }
  X
}

pscores <- function(b, vb, levels) {
  # P(i better than j) with small values good; b, vb: effects vs reference (reference 0 first)
  bb <- c(0, b); V <- bldiag(matrix(0), vb)
  Tn <- length(bb); P <- matrix(NA, Tn, Tn)
  for (i in 1:Tn) for (j in 1:Tn) if (i != j) {
    cvec <- rep(0, Tn); cvec[i] <- 1; cvec[j] <- -1
    P[i, j] <- pnorm(-sum(cvec * bb) / sqrt(drop(t(cvec) %*% V %*% cvec)))
  }
  ps <- rowMeans(P, na.rm = TRUE); names(ps) <- levels; ps
}

# netmeta's DL-type tau² (Ruecker 2012), computed on all pairwise contrasts with reduced weights
netmeta_dl <- function(arms, levels) {
  pr <- list(); W <- c(); studies <- c()
  for (s in unique(arms$study)) {
    a <- arms[arms$study == s, ]
    k <- nrow(a)
    Vp <- outer(a$v, a$v, "+"); diag(Vp) <- 0
    C <- diag(k) - matrix(1 / k, k, k)
    L <- ginv(-0.5 * C %*% Vp %*% C)
    for (i in 1:(k - 1)) for (j in (i + 1):k) {
      pr[[length(pr) + 1]] <- data.frame(t1 = a$trt[i], t2 = a$trt[j],
                                         y = a$theta[i] - a$theta[j], stringsAsFactors = FALSE)
      W <- c(W, if (k == 2) 1 / Vp[i, j] else -L[i, j])
      studies <- c(studies, s)
    }
  }
  p <- do.call(rbind, pr)
  m <- nrow(p); n <- length(levels)
  B <- matrix(0, m, n, dimnames = list(NULL, levels))
  for (i in 1:m) { B[i, p$t1[i]] <- 1; B[i, p$t2[i]] <- -1 }
  Wm <- diag(W)
  Lp <- ginv(t(B) %*% Wm %*% B)
  H <- B %*% Lp %*% t(B) %*% Wm
  theta <- Lp %*% t(B) %*% Wm %*% p$y
  delta <- p$y - B %*% theta
  Q <- drop(t(delta) %*% Wm %*% delta)
  df <- sum(tapply(arms$trt, arms$study, length) - 1) - (n - 1)
  E <- outer(studies, studies, "==") * 1
  denom <- sum(diag((diag(m) - H) %*% (B %*% t(B) * E / 2) %*% Wm))
  list(Q = Q, df = df, tau2 = max(0, (Q - df) / denom))
}

fit_all <- function(arms, levels) {
  cd <- contrasts_from_arms(arms, levels)
  d <- cd$data; V <- cd$V
  d$comp <- paste(d$trt1, d$trt2, sep = " vs ")
  X <- basic_X(d, levels)
  out <- list()
  ee <- rma.mv(d$yi, V, mods = X, intercept = FALSE, method = "EE")
  out$EE <- list(beta = arr(as.vector(coef(ee))), se = arr(ee$se), vcov = unname(vcov(ee)),
                 QE = ee$QE, QEdf = ee$k - ee$p,
                 pscores = arr(unname(pscores(as.vector(coef(ee)), vcov(ee), levels))))
  for (meth in c("REML", "ML")) {
    fit <- rma.mv(d$yi, V, mods = X, intercept = FALSE, random = ~ comp | study, rho = 1/2,
                  data = d, method = meth)
    out[[meth]] <- list(tau2 = fit$tau2, beta = arr(as.vector(coef(fit))), se = arr(fit$se),
                        vcov = unname(vcov(fit)), logLik = as.numeric(logLik(fit)),
                        pscores = arr(unname(pscores(as.vector(coef(fit)), vcov(fit), levels))))
  }
  out$DL_netmeta <- netmeta_dl(arms, levels)
  out
}

cases <- list()

# ---- 1. dat.hasselblad1998: arm-level OR, 1/2 added to all cells (metafor's example) ----------
h <- dat.hasselblad1998
lv <- c("no_contact", "self_help", "ind_counseling", "grp_counseling")
arms <- data.frame(study = as.character(h$study), trt = h$trt,
                   theta = log((h$xi + 0.5) / (h$ni - h$xi + 0.5)),
                   v = 1 / (h$xi + 0.5) + 1 / (h$ni - h$xi + 0.5), stringsAsFactors = FALSE)
cases$hasselblad1998 <- list(
  kind = "arm", measure = "OR", reference = lv[1], treatments = arr(lv), add = 0.5, to = "all",
  input = list(study = as.character(h$study), treatment = h$trt, events = h$xi, n = h$ni),
  fits = fit_all(arms, lv))

# ---- 2. dat.senn2013: contrast-level MD; Willms 1999 (3 arms) as all three pairs ----------------
sn <- dat.senn2013
lv <- c("placebo", sort(setdiff(unique(sn$treatment), "placebo")))
arms <- data.frame(study = sn$study, trt = sn$treatment, theta = sn$mi, v = sn$sdi^2 / sn$ni,
                   stringsAsFactors = FALSE)
rows <- list()
for (s in unique(arms$study)) {
  a <- arms[arms$study == s, ]
  for (i in 1:(nrow(a) - 1)) for (j in (i + 1):nrow(a))
    rows[[length(rows) + 1]] <- data.frame(study = s, treat1 = a$trt[i], treat2 = a$trt[j],
                                           yi = a$theta[i] - a$theta[j], vi = a$v[i] + a$v[j],
                                           stringsAsFactors = FALSE)
}
ci <- do.call(rbind, rows)
cases$senn2013 <- list(
  kind = "contrast", measure = "MD", reference = "placebo", treatments = arr(lv),
  input = as.list(ci), fits = fit_all(arms, lv))

# ---- 3. generated star network: log HRs against placebo from intervals at various levels ------
set.seed(20240611)
drugs <- c("alpha", "beta", "gamma", "delta", "epsilon")
true <- c(alpha = log(0.5), beta = log(0.3), gamma = log(0.7), delta = log(0.4), epsilon = log(0.9))
ntr <- c(alpha = 2, beta = 1, gamma = 3, delta = 1, epsilon = 2)
st <- list(); i <- 0
for (dname in drugs) for (r in seq_len(ntr[dname])) {
  i <- i + 1
  se <- runif(1, 0.1, 0.3)
  yi <- rnorm(1, true[dname] + rnorm(1, 0, 0.15), se)
  lvl <- c(0.95, 0.95, 0.99, 0.60)[1 + (i %% 4)]
  z <- qnorm(1 - (1 - lvl) / 2)
  hr <- round(exp(yi), 2); lo <- round(exp(yi - z * se), 2); hi <- round(exp(yi + z * se), 2)
  st[[i]] <- data.frame(study = sprintf("star%02d", i), treat1 = dname, treat2 = "placebo",
                        hr = hr, ci_low = lo, ci_high = hi, ci_level = lvl,
                        stringsAsFactors = FALSE)
}
st <- do.call(rbind, st)
z <- qnorm(1 - (1 - st$ci_level) / 2)
lv <- c("placebo", sort(drugs))
arms <- do.call(rbind, lapply(seq_len(nrow(st)), function(r) data.frame(
  study = st$study[r], trt = c(st$treat1[r], "placebo"),
  theta = c(log(st$hr[r]), 0),
  v = c(((log(st$ci_high[r]) - log(st$ci_low[r])) / (2 * z[r]))^2, 0), stringsAsFactors = FALSE)))
cases$star <- list(kind = "contrast", measure = "HR", reference = "placebo", treatments = arr(lv),
                   input = as.list(st), fits = fit_all(arms, lv))

# ---- 4. generated loop network: arm-level binary (OR) with two 3-arm studies ----------------------
set.seed(7)
lv <- c("placebo", "A", "B", "C")
designs <- list(c("placebo", "A"), c("placebo", "A"), c("placebo", "B"), c("placebo", "B"),
                c("A", "B"), c("A", "C"), c("B", "C"), c("placebo", "C"),
                c("placebo", "A", "B"), c("A", "B", "C"), c("placebo", "C"))
lor <- c(placebo = 0, A = 0.4, B = 0.7, C = 0.2)
ar <- list()
for (s in seq_along(designs)) {
  base <- qlogis(runif(1, 0.15, 0.35)); re <- rnorm(1, 0, 0.3)
  for (t in designs[[s]]) {
    n <- sample(40:160, 1)
    p <- plogis(base + lor[t] + if (t == designs[[s]][1]) 0 else re + rnorm(1, 0, 0.2))
    ar[[length(ar) + 1]] <- data.frame(study = sprintf("loop%02d", s), treatment = t,
                                       events = rbinom(1, n, p), n = n, stringsAsFactors = FALSE)
  }
}
ar <- do.call(rbind, ar)
zero <- tapply(ar$events == 0 | ar$events == ar$n, ar$study, any)
add <- ifelse(zero[ar$study], 0.5, 0)
arms <- data.frame(study = ar$study, trt = ar$treatment,
                   theta = log((ar$events + add) / (ar$n - ar$events + add)),
                   v = 1 / (ar$events + add) + 1 / (ar$n - ar$events + add), stringsAsFactors = FALSE)
cases$loops <- list(kind = "arm", measure = "OR", reference = "placebo", treatments = arr(lv),
                    add = 0.5, to = "only0", input = as.list(ar), fits = fit_all(arms, lv))

# ---- 5. generated continuous network: arm-level MD with a 4-arm study --------------------------
set.seed(11)
lv <- c("control", "P", "Q", "R", "S")
designs <- list(c("control", "P"), c("control", "Q"), c("control", "R"), c("P", "Q"),
                c("Q", "R"), c("control", "P", "Q", "R"), c("R", "S"), c("control", "S"),
                c("P", "S"), c("control", "P"))
mu <- c(control = 0, P = -1, Q = -1.5, R = -0.5, S = -0.8)
ar <- list()
for (s in seq_along(designs)) {
  base <- rnorm(1, 5, 1)
  for (t in designs[[s]]) {
    n <- sample(20:120, 1); sd <- runif(1, 1.5, 3)
    m <- base + mu[t] + rnorm(1, 0, 0.35) + rnorm(1, 0, sd / sqrt(n))
    ar[[length(ar) + 1]] <- data.frame(study = sprintf("cont%02d", s), treatment = t,
                                       mean = round(m, 3), sd = round(sd, 3), n = n,
                                       stringsAsFactors = FALSE)
  }
}
ar <- do.call(rbind, ar)
arms <- data.frame(study = ar$study, trt = ar$treatment, theta = ar$mean, v = ar$sd^2 / ar$n,
                   stringsAsFactors = FALSE)
cases$continuous <- list(kind = "arm", measure = "MD", reference = "control", treatments = arr(lv),
                         input = as.list(ar), fits = fit_all(arms, lv))

out <- list(
  generator = "tests/reference/network.R",
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  metafor_version = as.character(packageVersion("metafor")),
  mass_version = as.character(packageVersion("MASS")),
  cases = cases)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
