# Reference values for metaanalysis.pooling.multilevel (metafor's rma.mv).
#
# Writes tests/reference/multilevel.json: four datasets (yi, vi or the full V, grouping columns)
# and, for each fit in the grid, beta, se, zval, pval, ci.lb, ci.ub, vb, the variance components
# (sigma2, tau2, rho), QE, QM and fitstats() (logLik, deviance, AIC, BIC, AICc). Every fit is run
# three ways: with metafor's default control (nlminb stops up to 1e-5 short of the optimum on
# berkey1998), with a tight tolerance (rel.tol = 1e-12, or the tightest nlminb accepts), and that
# solution polished by Newton steps on metafor's likelihood ("optimum": the values the Python tests
# compare at rtol 1e-6).
# Also records metafor's vcalc() for the within-trial correlated outcomes (PFS and OS).
#
# Run from the repository root:   Rscript tests/reference/multilevel.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/multilevel.json"
mat <- function(M) lapply(seq_len(nrow(M)), function(i) arr(M[i, ]))
# nlminb reports false convergence on some fits at 1e-12: the tightest of these that it accepts
TIGHT <- lapply(c(1e-12, 1e-11, 1e-10), function(r) list(rel.tol = r, eval.max = 10000, iter.max = 10000))

# ---- datasets ----
konst <- dat.konstantopoulos2011
berkey <- dat.berkey1998
V_berkey <- bldiag(lapply(split(berkey[, c("v1i", "v2i")], berkey$trial), as.matrix))

# multi-arm trials sharing a control arm (log odds ratios): trials 1-5 have arms A and B, the
# others one of them (seed chosen so that no variance component sits on its boundary); the covariance of two log ORs against the same control is that control's
# variance contribution 1/c + 1/(n - c)
set.seed(3)
arms <- do.call(rbind, lapply(1:12, function(t) {
  tr <- if (t <= 5) c("A", "B") else if (t %% 2) "A" else "B"
  n <- sample(150:300, 1)
  p0 <- plogis(rnorm(1, qlogis(0.3), 0.3))
  cc <- rbinom(1, n, p0)
  u <- rnorm(1, 0, 0.35)
  do.call(rbind, lapply(tr, function(a) {
    lor <- (if (a == "A") -0.3 else -0.6) + u + rnorm(1, 0, 0.25)
    n1 <- sample(150:300, 1)
    data.frame(trial = t, arm = a, ai = rbinom(1, n1, plogis(qlogis(p0) + lor)), n1i = n1,
               ci = cc, n2i = n)
  }))
}))
arms <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = arms)
arms$control_var <- 1 / arms$ci + 1 / (arms$n2i - arms$ci)
arms$id <- seq_len(nrow(arms))
V_arms <- diag(arms$vi)
for (i in seq_len(nrow(arms))) for (j in seq_len(nrow(arms)))
  if (i != j && arms$trial[i] == arms$trial[j]) V_arms[i, j] <- arms$control_var[i]

# PFS and OS hazard ratios of the same trials, with an assumed within-trial correlation of 0.6
set.seed(17)
surv <- do.call(rbind, lapply(1:12, function(t) {
  u <- rnorm(2, 0, c(0.15, 0.1))
  se <- runif(2, 0.1, 0.25)
  data.frame(trial = t, outcome = c("PFS", "OS"), yi = c(-0.4, -0.2) + u + rnorm(2, 0, se),
             vi = se^2)
}))
V_surv <- vcalc(vi, cluster = trial, obs = outcome, rho = 0.6, data = surv)

# effects of 10 species (3 each) whose random effects are correlated through a known matrix
# (AR(1)-like, 0.7^|i - j|), metafor's R argument: random = list(~ 1 | species, ~ 1 | id)
set.seed(11)
species <- sprintf("s%02d", 1:10)
R_species <- outer(1:10, 1:10, function(i, j) 0.7^abs(i - j))
dimnames(R_species) <- list(species, species)
u_sp <- drop(t(chol(R_species)) %*% rnorm(10, 0, 0.3))
phylo <- data.frame(species = rep(species, each = 3), id = 1:30)
phylo$vi <- runif(30, 0.01, 0.05)
phylo$yi <- 0.2 + u_sp[match(phylo$species, species)] + rnorm(30, 0, 0.15) + rnorm(30, 0, sqrt(phylo$vi))

datasets <- list(
  konstantopoulos2011 = list(yi = arr(konst$yi), vi = arr(konst$vi), district = arr(konst$district),
                             school = arr(konst$school), study = arr(konst$study), year = arr(konst$year)),
  berkey1998 = list(yi = arr(berkey$yi), vi = arr(berkey$vi), V = mat(V_berkey), trial = arr(berkey$trial),
                    outcome = as.character(berkey$outcome), year = arr(berkey$year)),
  multiarm = list(yi = arr(arms$yi), vi = arr(arms$vi), V = mat(V_arms), trial = arr(arms$trial),
                  arm = as.character(arms$arm), id = arr(arms$id), control_var = arr(arms$control_var),
                  ai = arr(arms$ai), n1i = arr(arms$n1i), ci = arr(arms$ci), n2i = arr(arms$n2i)),
  pfs_os = list(yi = arr(surv$yi), vi = arr(surv$vi), V = mat(as.matrix(V_surv)), trial = arr(surv$trial),
                outcome = as.character(surv$outcome), rho = 0.6),
  phylo = list(yi = arr(phylo$yi), vi = arr(phylo$vi), species = phylo$species, id = arr(phylo$id),
               R_species = mat(R_species), R_levels = species)
)
data_frames <- list(konstantopoulos2011 = konst, berkey1998 = berkey, multiarm = arms, pfs_os = surv, phylo = phylo)
v_of <- list(konstantopoulos2011 = konst$vi, berkey1998 = V_berkey, multiarm = V_arms, pfs_os = V_surv,
             phylo = phylo$vi)

# ---- the grid: dataset, random, struct, method, test, mods (a formula string, or NULL) ----
case <- function(id, data, random, struct = "CS", method = "REML", test = "z", mods = NULL, R = NULL)
  list(id = id, data = data, random = random, struct = struct, method = method, test = test, mods = mods, R = R)
grid <- list(
  case("konst_reml", "konstantopoulos2011", "~ 1 | district/school"),
  case("konst_ml", "konstantopoulos2011", "~ 1 | district/school", method = "ML"),
  case("konst_year_t", "konstantopoulos2011", "~ 1 | district/school", test = "t", mods = "~ year"),
  case("konst_two_terms", "konstantopoulos2011", c("~ 1 | district", "~ 1 | study")),
  case("berkey_un", "berkey1998", "~ outcome | trial", struct = "UN", mods = "~ outcome - 1"),
  case("berkey_un_ml", "berkey1998", "~ outcome | trial", struct = "UN", method = "ML", mods = "~ outcome - 1"),
  case("berkey_un_t", "berkey1998", "~ outcome | trial", struct = "UN", test = "t", mods = "~ outcome - 1"),
  case("berkey_un_year", "berkey1998", "~ outcome | trial", struct = "UN",
       mods = "~ outcome + outcome:I(year - 1983) - 1"),
  case("berkey_cs", "berkey1998", "~ outcome | trial", struct = "CS", mods = "~ outcome - 1"),
  case("berkey_cs_ml", "berkey1998", "~ outcome | trial", struct = "CS", method = "ML", mods = "~ outcome - 1"),
  case("berkey_hcs", "berkey1998", "~ outcome | trial", struct = "HCS", mods = "~ outcome - 1"),
  case("berkey_id", "berkey1998", "~ outcome | trial", struct = "ID", mods = "~ outcome - 1"),
  case("berkey_diag", "berkey1998", "~ outcome | trial", struct = "DIAG", mods = "~ outcome - 1"),
  case("multiarm_nested", "multiarm", "~ 1 | trial/id", mods = "~ arm"),
  case("multiarm_cs", "multiarm", "~ arm | trial", struct = "CS", mods = "~ arm"),
  case("pfs_os_un", "pfs_os", "~ outcome | trial", struct = "UN", mods = "~ outcome - 1"),
  case("pfs_os_cs", "pfs_os", "~ outcome | trial", struct = "CS", mods = "~ outcome - 1"),
  case("phylo_known_r", "phylo", c("~ 1 | species", "~ 1 | id"), R = list(species = R_species)),
  case("phylo_known_r_ml", "phylo", c("~ 1 | species", "~ 1 | id"), method = "ML", R = list(species = R_species))
)

record <- function(res) {
  fs <- fitstats(res)
  list(beta = arr(res$beta), se = arr(res$se), zval = arr(res$zval), pval = arr(res$pval),
       ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub), vb = mat(res$vb), coef_names = rownames(res$beta),
       sigma2 = arr(if (res$withS) res$sigma2 else numeric(0)),
       s_nlevels = arr(if (res$withS) res$s.nlevels else numeric(0)),
       tau2 = arr(if (res$withG) res$tau2 else numeric(0)), rho = arr(if (res$withG) res$rho else numeric(0)),
       g_nlevels = arr(if (res$withG) res$g.nlevels else numeric(0)),
       g_levels = if (res$withG) as.character(res$g.levels.f[[1]]) else character(0),
       QE = sc(res$QE), QEp = sc(res$QEp), QM = sc(res$QM), QMp = sc(res$QMp), QMdf = arr(res$QMdf),
       logLik = sc(fs[1, 1]), deviance = sc(fs[2, 1]), AIC = sc(fs[3, 1]), BIC = sc(fs[4, 1]),
       AICc = sc(fs[5, 1]), k = res$k, p = res$p)
}

# Newton steps on metafor's own likelihood (the model refitted with all variance components fixed,
# over log variances and atanh correlations; central-difference gradient and Hessian) take the
# nlminb solution to the optimum itself (gradient below 1e-9), so estimates can be compared at 1e-6
polish <- function(fit, res) {
  nS <- if (res$withS) length(res$sigma2) else 0
  nT <- if (res$withG) length(res$tau2) else 0
  nR <- if (res$withG && res$struct %in% c("CS", "HCS", "UN")) length(res$rho) else 0
  theta <- c(log(res$sigma2[seq_len(nS)]), log(res$tau2[seq_len(nT)]), atanh(res$rho[seq_len(nR)]))
  at <- function(th) {
    args <- list()
    if (nS) args$sigma2 <- exp(th[seq_len(nS)])
    if (nT) args$tau2 <- exp(th[nS + seq_len(nT)])
    if (nR) args$rho <- tanh(th[nS + nT + seq_len(nR)])
    fit(list(), args)
  }
  ll <- function(th) as.numeric(logLik(at(th)))
  n <- length(theta); h <- 1e-4
  grad <- function(th) vapply(seq_len(n), function(j) {
    e <- replace(numeric(n), j, h); (ll(th + e) - ll(th - e)) / (2 * h) }, 0)
  for (it in 1:6) {
    g <- grad(theta)
    if (max(abs(g)) < 1e-9) break
    H <- sapply(seq_len(n), function(j) { e <- replace(numeric(n), j, 1e-3); (grad(theta + e) - grad(theta - e)) / 2e-3 })
    theta <- theta - solve((H + t(H)) / 2, g)
  }
  list(fit = at(theta), gradient = max(abs(grad(theta))))
}

fits <- lapply(grid, function(g) {
  dat <- data_frames[[g$data]]
  random <- if (length(g$random) == 1) as.formula(g$random) else lapply(g$random, as.formula)
  mods <- if (is.null(g$mods)) ~1 else as.formula(g$mods)
  Vm <- v_of[[g$data]]
  fit <- function(control, fixed = list()) suppressWarnings(do.call(rma.mv, c(list(
    dat$yi, Vm, mods = mods, random = random, struct = g$struct, method = g$method, test = g$test,
    data = dat, control = control), if (is.null(g$R)) list() else list(R = g$R), fixed)))
  tight <- NULL
  for (con in TIGHT) {
    tight <- tryCatch(fit(con), error = function(e) NULL)
    if (!is.null(tight)) break
  }
  pol <- polish(fit, tight)
  optimum <- record(pol$fit)
  # the polished fit holds its components fixed, so metafor counts fewer parameters in AIC, BIC
  # and AICc: those come from the nlminb fit (the likelihood is flat at the optimum)
  optimum[c("AIC", "BIC", "AICc")] <- record(tight)[c("AIC", "BIC", "AICc")]
  c(g[c("id", "data", "struct", "method", "test")], list(random = g$random, mods = if (is.null(g$mods)) NA else g$mods,
                                                         known_r = !is.null(g$R)),
    list(tight_rel_tol = tight$control$rel.tol, polish_gradient = pol$gradient, tight = record(tight),
         optimum = optimum, default = record(fit(list()))))
})
names(fits) <- vapply(grid, function(g) g$id, "")

arr_chr <- function(x) { attr(x, "as_array") <- TRUE; x }
# printed summaries, for a by-eye comparison of the layout
printed <- list(
  konst_reml = arr_chr(capture.output(print(rma.mv(yi, vi, random = ~ 1 | district/school, data = konst)))),
  berkey_un = arr_chr(capture.output(print(rma.mv(yi, V_berkey, mods = ~ outcome - 1, random = ~ outcome | trial,
                                                struct = "UN", data = berkey))))
)

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            datasets = datasets, fits = fits, printed = printed)
writeLines(to_json(out), out_path)
