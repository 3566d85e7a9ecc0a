# Reference values for the UN structure of metaanalysis.pooling.multilevel.rma_mv, and for
# profile_mv where a refit has several optima (metafor's rma.mv and profile.rma.mv).
#
# Writes tests/reference/multilevel_un.json. Data: eight data sets of a randomised comparison
# with metafor (yi, vi, study and a three-level inner factor, written out below: on six of them
# rma_mv raised ConvergenceError with one atanh per correlation of struct = "UN", on fuzz11 and
# fuzz158 its profile of tau2.1 returned NaN, on fuzz80 too once the fit worked), fuzz14 (struct
# "HCS", ML) and two four-level data sets generated with fixed seeds (un4_interior: seed 4, an
# interior optimum; un4_edge: seed 1, an optimum with a singular correlation matrix).
#
# `fits`: every UN fit with metafor's default control and with a tight tolerance (rel.tol =
# 1e-12, or the tightest of 1e-11 to 1e-8 that nlminb accepts): beta, se, tau2, rho, logLik, and the smallest eigenvalue
# of the fitted correlation matrix. Where that eigenvalue and every tau2 are clear of 0 the
# optimum is interior and the tight fit is polished by Newton steps on metafor's likelihood
# (`optimum`, gradient below 1e-8); elsewhere the optimum lies on the edge of the positive
# semi-definite matrices, where nlminb stops short and no polish is possible (`optimum` null).
#
# `profiles`: profile(tau2 = 1, xlim = c(0, max(0.1, 2 * tau2[1])), steps = 5) of fuzz11, fuzz158,
# fuzz80 (UN) and fuzz14 (HCS), and for fuzz14 the fit and each profile point refitted from the
# starting correlations rho.init = 0.5 (metafor's default), 0.9, 0 and -0.5: the best of these is
# metafor's optimum (its default start settles at the worse edge rho = -1 on the fit itself and on
# the last profile point; the better optimum has rho = +1).
#
# Run from the repository root:   Rscript tests/reference/multilevel_un.R
# Pinned: R >= 4.2, metafor 3.8-1 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(metafor))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/multilevel_un.json"
# nlminb reports false convergence on some fits at 1e-12: the tightest of these that it accepts
# (metafor's default rel.tol is 1e-10)
TIGHT <- lapply(c(1e-12, 1e-11, 1e-10, 1e-9, 1e-8), function(r) list(rel.tol = r, eval.max = 10000, iter.max = 10000))

datasets <- list(
  fuzz11 = data.frame(
    yi = c(0.4161929294000863, 0.1712326154771929, 0.8566611552685723, 0.32736365133934126, 0.12454264625422773, 0.3933654631086454, 0.6743394104893542, -0.1990116844451701, 0.3935822722294526, 0.8874866453405919),
    vi = c(0.05516199637177737, 0.07711454959707308, 0.07333628398524913, 0.07437271165503982, 0.057714759238542065, 0.07935596395060486, 0.08521747251009675, 0.091903256592386, 0.06184710959641767, 0.09996630277459594),
    study = c(1, 1, 1, 2, 2, 2, 3, 3, 4, 4),
    inner = c("a", "b", "c", "a", "b", "c", "a", "b", "a", "b")),
  fuzz14 = data.frame(
    yi = c(0.6250008959289636, 0.4827475362034154, 0.1562383417058882, -0.4147368974743223, -0.26239192519146426, -0.24178885803493297, 0.5426540879803817, -0.23365180022722126, 0.19994450433243888, 0.9503896256253794, 0.1469986704429146, -0.14431484417238194),
    vi = c(0.07291072380746935, 0.06611834252811016, 0.0001, 0.08328389546785671, 0.07944003660743906, 0.08508512471663729, 0.05035555921061086, 0.010257500897611207, 0.040753623352487174, 0.06149905665341547, 0.02014856804320254, 0.03279758350752815),
    study = c(1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6),
    inner = c("a", "b", "c", "a", "b", "a", "b", "a", "b", "a", "b", "a")),
  fuzz37 = data.frame(
    yi = c(0.6062036542620117, 0.4590515098340502, 0.459361545097606, -0.3220813968650944, 0.27945243210101844, -0.1727640542268967, -0.29798231061011443, -0.002358235020768512, 0.5095001756397823, -0.12119365922842121, -0.9108729057820665, -0.7886810085973519, -0.40301003788362216, -1.0100728543485509),
    vi = c(0.010915518839217188, 0.0345772291563792, 0.008508815353223384, 0.05148046304662104, 0.046715467756132195, 0.06580698177473443, 0.06944784656776648, 0.09313924874225601, 0.04189773598267863, 0.030811305024529674, 0.041984208571314637, 0.01908110148970063, 0.08521794332696694, 0.094858319683119),
    study = c(1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 7, 7, 7, 7),
    inner = c("a", "b", "a", "a", "a", "a", "a", "b", "c", "a", "a", "b", "c", "a")),
  fuzz61 = data.frame(
    yi = c(-0.41532898935706153, 0.19780798529550722, 0.07667715523793235, 0.46180059249572103, 0.14945325964162448),
    vi = c(0.05361283409934893, 0.028173841585684294, 0.019966209749707035, 0.03780935284448833, 0.031426270431621765),
    study = c(1, 2, 2, 2, 3),
    inner = c("a", "a", "b", "c", "a")),
  fuzz80 = data.frame(
    yi = c(0.0, 0.5, 0.2, 0.8, 0.3, -0.1, 0.7, 0.8, 0.8, 0.1, 0.5, 0.2),
    vi = c(0.0896976490748418, 0.08988100458712533, 0.09965480529974907, 0.08919270370773834, 0.03771375688014672, 0.0001, 0.09780550488036689, 0.020559080429185275, 0.033052469743573586, 0.06927783061216941, 0.08136329317891061, 0.005234236367049854),
    study = c(1, 1, 1, 1, 2, 2, 3, 4, 4, 5, 5, 5),
    inner = c("a", "b", "c", "a", "a", "b", "a", "a", "b", "a", "b", "c")),
  fuzz93 = data.frame(
    yi = c(0.38971208579147065, 0.4532555003718527, 0.3819272187468269, 0.1184199521062867, -0.14583918370244042, 0.48124414917773367, 0.1879059280517206, 0.6049830377476987, 0.12864206335050316),
    vi = c(0.05158549874887766, 0.06357776347595961, 0.06765176198350148, 0.09524925094360515, 0.07408356558096399, 0.06866623921953173, 0.05268097596667318, 0.08051672745352907, 0.05821346152656403),
    study = c(1, 2, 2, 3, 3, 3, 3, 4, 5),
    inner = c("a", "a", "b", "a", "b", "c", "a", "a", "a")),
  fuzz121 = data.frame(
    yi = c(0.5463998149211073, 0.19914963214786907, 0.3655117801004717, 0.08221439369735135, 0.32402644138822784, 0.44672866770559105, 0.06272441213949158, 0.3829201763636362, 0.37238949116730935, 0.10873601346963085, 0.329622107837626, 0.29658713374123596, 0.7733711111532606),
    vi = c(0.01796758900694221, 0.05460793328106756, 0.08934090189424511, 0.09852926366396177, 0.09017507695080365, 0.00875890578317513, 0.02491846280080801, 0.02497477669602157, 0.05052465157007939, 0.05860876371822222, 0.09832930363466737, 0.043082075459016454, 0.09460488206807997),
    study = c(1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4),
    inner = c("a", "b", "c", "a", "b", "a", "b", "c", "a", "a", "b", "c", "a")),
  fuzz134 = data.frame(
    yi = c(0.13216724912785283, -0.045238134990558565, -0.043659942412598574, 0.9938467171144327, 0.6976991168459425, 1.0750086830311503, 0.35676815131457695, -0.0752460986057806, -0.11594079479394717, -0.015018486332850765, -0.1101611664398921),
    vi = c(0.0905576718987284, 0.08837672032103776, 0.04283551240679826, 0.013856200077705712, 0.09157785494688306, 0.09376521291936135, 0.05685992606580761, 0.09209702694113536, 0.022911247638959107, 0.05018027454730144, 0.012860486020918774),
    study = c(1, 2, 2, 3, 3, 3, 4, 5, 5, 5, 5),
    inner = c("a", "a", "b", "a", "b", "c", "a", "a", "b", "c", "a")),
  fuzz158 = data.frame(
    yi = c(0.5824708819357749, 0.8627495612318762, 0.6852860040457753, 0.2724968530159776, 0.04181663248599414, -0.04141153074044024, 0.17004945979816266, -0.04954687357175876, 0.05134002956961373, -0.19460939596645513),
    vi = c(0.012922834853095644, 0.06052527134540792, 0.005498516544588701, 0.07614187398163452, 0.005293960502473368, 0.045078975087315155, 0.026599646797542613, 0.03783035590525512, 0.054987791232346574, 0.07278809704825515),
    study = c(1, 1, 1, 1, 2, 2, 2, 2, 3, 3),
    inner = c("a", "b", "c", "a", "a", "b", "c", "a", "a", "b")),  NULL)
datasets <- datasets[!vapply(datasets, is.null, TRUE)]

# four outcomes per study (a subset of 2 to 4 of them), true tau2 0.05 to 0.12 and correlations
# 0.2 to 0.6; seeds 1 to 8 give two interior optima (2, 4) and six on the edge
gen4 <- function(seed) {
  set.seed(seed)
  tau2 <- c(0.10, 0.05, 0.08, 0.12)
  Rt <- matrix(c(1, .5, .3, .4,  .5, 1, .6, .2,  .3, .6, 1, .5,  .4, .2, .5, 1), 4)
  G <- Rt * sqrt(outer(tau2, tau2))
  rows <- lapply(seq_len(24), function(s) {
    lev <- sort(sample(4, sample(2:4, 1)))
    u <- drop(t(chol(G)) %*% rnorm(4))
    vi <- runif(length(lev), 0.01, 0.06)
    data.frame(yi = c(0.2, 0.4, 0.1, 0.3)[lev] + u[lev] + rnorm(length(lev), 0, sqrt(vi)), vi = vi,
               study = s, inner = letters[lev])
  })
  do.call(rbind, rows)
}
datasets$un4_interior <- gen4(4)
datasets$un4_edge <- gen4(1)

cases <- list(
  fuzz37 = list(data = "fuzz37", method = "REML", mods = NA),
  fuzz61 = list(data = "fuzz61", method = "ML", mods = NA),
  fuzz80 = list(data = "fuzz80", method = "ML", mods = NA),
  fuzz93 = list(data = "fuzz93", method = "ML", mods = NA),
  fuzz121 = list(data = "fuzz121", method = "REML", mods = NA),
  fuzz134 = list(data = "fuzz134", method = "REML", mods = NA),
  fuzz11 = list(data = "fuzz11", method = "REML", mods = NA),
  fuzz158 = list(data = "fuzz158", method = "REML", mods = NA),
  un4_interior = list(data = "un4_interior", method = "REML", mods = "~ inner - 1"),
  un4_edge = list(data = "un4_edge", method = "REML", mods = "~ inner - 1")
)

min_eigen <- function(res) {
  m <- length(res$tau2)
  R <- diag(m)
  R[lower.tri(R)] <- res$rho  # metafor's order (2,1), (3,1), ..., (3,2), ...: column-wise
  R <- R + t(R) - diag(m)
  min(eigen(R, symmetric = TRUE, only.values = TRUE)$values)
}

record <- function(res) {
  list(beta = arr(res$beta), se = arr(res$se), tau2 = arr(res$tau2), rho = arr(res$rho),
       logLik = sc(logLik(res)), min_eigen = sc(min_eigen(res)))
}

# Newton steps on metafor's likelihood over log tau2 and atanh rho (the model refitted with every
# component fixed; central differences), as in multilevel.R: only for an interior optimum
polish <- function(fit, res) {
  nT <- length(res$tau2)
  theta <- c(log(res$tau2), atanh(res$rho))
  at <- function(th) fit(list(), list(tau2 = exp(th[seq_len(nT)]), rho = tanh(th[-seq_len(nT)])))
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

fits <- lapply(cases, function(cs) {
  d <- datasets[[cs$data]]
  mods <- if (is.na(cs$mods)) ~ 1 else as.formula(cs$mods)
  fit <- function(control, fixed = list()) suppressWarnings(do.call(rma.mv, c(list(
    d$yi, d$vi, mods = mods, random = ~ inner | study, struct = "UN", method = cs$method, data = d,
    control = control), fixed)))
  tight <- NULL
  for (con in TIGHT) {
    tight <- tryCatch(fit(con), error = function(e) NULL)
    if (!is.null(tight)) break
  }
  interior <- min_eigen(tight) > 1e-4 && min(tight$tau2) > 1e-4
  pol <- if (interior) polish(fit, tight) else NULL
  c(cs, list(tight_rel_tol = tight$control$rel.tol, interior = interior,
             polish_gradient = if (interior) pol$gradient else NA,
             default = record(fit(list())), tight = record(tight),
             optimum = if (interior) record(pol$fit) else NULL))
})

profiles <- list()
for (nm in c("fuzz11", "fuzz158", "fuzz80", "fuzz14")) {
  d <- datasets[[nm]]
  struct <- if (nm == "fuzz14") "HCS" else "UN"
  method <- if (nm %in% c("fuzz80", "fuzz14")) "ML" else "REML"
  res <- rma.mv(yi, vi, random = ~ inner | study, struct = struct, method = method, data = d)
  xlim <- c(0, max(0.1, 2 * res$tau2[1]))
  pr <- profile(res, tau2 = 1, xlim = xlim, steps = 5, plot = FALSE, progbar = FALSE)
  entry <- list(data = nm, struct = struct, method = method, component = "tau2.1",
                estimate = sc(res$tau2[1]), logLik = sc(logLik(res)), xlim = arr(xlim),
                grid = arr(pr$tau2), ll = arr(pr$ll))
  if (nm == "fuzz14") {
    # the fit and each profile point from several starting correlations: metafor's optimum is the
    # best of them
    runs_from <- function(tau2) {
      runs <- lapply(list(0.5, 0.9, 0, -0.5), function(r0) {
        g <- tryCatch(rma.mv(yi, vi, random = ~ inner | study, struct = "HCS", method = "ML", data = d,
                             tau2 = tau2, control = list(rho.init = r0)), error = function(e) NULL)
        if (is.null(g)) list(rho_init = r0, logLik = NA) else
          list(rho_init = r0, logLik = sc(logLik(g)), tau2 = arr(g$tau2), rho = sc(g$rho), beta = arr(g$beta),
               se = arr(g$se))
      })
      best <- runs[[which.max(vapply(runs, function(r) if (is.na(r$logLik)) -Inf else r$logLik, 0))]]
      list(runs = runs, best = best)
    }
    entry$fit_starts <- runs_from(c(NA, NA, NA))
    entry$starts <- lapply(pr$tau2, function(t1) c(list(tau2_1 = t1), runs_from(c(t1, NA, NA))))
  }
  profiles[[nm]] <- entry
}

sets <- lapply(datasets, function(d) list(yi = arr(d$yi), vi = arr(d$vi), study = arr(d$study),
                                          inner = { x <- as.character(d$inner); attr(x, "as_array") <- TRUE; x }))
out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            generated_by = "tests/reference/multilevel_un.R", datasets = sets, fits = fits,
            profiles = profiles)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "with", length(fits), "fits and", length(profiles), "profiles\n")
