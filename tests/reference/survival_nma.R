# Reference values for metaanalysis.network.survival (survival network meta-analysis).
#
# Writes tests/reference/survival_nma.json. Data: survival::colon, deaths (etype == 2), the three
# arms Obs, Lev, Lev+5FU dealt into three two-arm "trials" by the parity of id, a network with a
# loop: T1 = Obs (odd id) vs Lev (odd), T2 = Obs (even) vs Lev+5FU (odd), T3 = Lev (even) vs
# Lev+5FU (even). The patient data are written to the JSON for the Python tests. Fits:
#   - piecewise exponential: survSplit() at 365, 730, 1460 days, then
#     glm(status ~ 0 + trial:interval + therapy:interval (non-reference), family = poisson,
#     offset = log(tstop - tstart)) on the patient-level split data; the same model on the table of
#     summed events and exposure (deviance and AIC of that table);
#   - one interval (no split) against glm(status ~ 0 + trial + therapy, offset = log(time));
#   - first-order fractional polynomials, powers -1, 0, 0.5, 1: split on 20 equal intervals up to
#     the last time, f = u^p (log u for p = 0), u = midpoint / last time, at each interval,
#     glm(status ~ 0 + trial + trial:f + therapy + therapy:f, offset = log(exposure));
#   - second-order fractional polynomials, powers (0, 0.5), (0, 0), (-1, 1), (1, 3), on the same
#     split: f1 = u^p1, f2 = u^p2 (u^p log u for a repeated power), u = midpoint / last time,
#     glm(status ~ 0 + trial + trial:f1 + trial:f2 + therapy + therapy:f1 + therapy:f2, ...).
#   - tests/data/late_trial_network.csv (a trial without early events): every FP1 power and five
#     FP2 pairs on the table of counts.
# All fits with glm.control(epsilon = 1e-12, maxit = 100) so that the estimates are converged far
# below the tests' tolerance.
#
# Run from the repository root:   Rscript tests/reference/survival_nma.R
# Pinned: R >= 4.2, survival 3.5-3 (the versions used are recorded in the JSON).

suppressPackageStartupMessages(library(survival))
source("tests/reference/_json_writer.R")

out_path <- "tests/reference/survival_nma.json"
ctl <- glm.control(epsilon = 1e-12, maxit = 100)

d <- subset(survival::colon, etype == 2, select = c(id, time, status, rx))
d$therapy <- as.character(d$rx)
odd <- d$id %% 2 == 1
d$trial <- ifelse(d$therapy == "Obs", ifelse(odd, "T1", "T2"),
           ifelse(d$therapy == "Lev", ifelse(odd, "T1", "T3"), ifelse(odd, "T2", "T3")))
d <- d[order(d$trial, d$therapy, d$id), c("trial", "therapy", "time", "status")]
therapies <- c("Obs", "Lev", "Lev+5FU")   # reference first
others <- therapies[-1]

coef_list <- function(f, names) {
  # R drops the backticks of syntactic names and keeps the others': compare without them
  s <- summary(f)$coefficients
  rownames(s) <- gsub("`", "", rownames(s))
  names <- gsub("`", "", names)
  list(names = names, coef = arr(s[names, "Estimate"]), se = arr(s[names, "Std. Error"]))
}

# ---- piecewise ----
cuts <- c(365, 730, 1460)
sp <- survSplit(Surv(time, status) ~ ., data = d, cut = cuts, episode = "interval")
sp$interval <- sp$interval - 1                       # 0-based as in Python
sp$exposure <- sp$time - sp$tstart
sp$ti <- factor(paste0("trial[", sp$trial, "]:interval[", sp$interval, "]"))
tx_names <- c()
for (x in others) for (j in 0:length(cuts)) {
  nm <- paste0("therapy[", x, "]:interval[", j, "]")
  sp[[nm]] <- as.numeric(sp$therapy == x & sp$interval == j)
  tx_names <- c(tx_names, nm)
}
fml <- as.formula(paste("status ~ 0 + ti +", paste0("`", tx_names, "`", collapse = " + ")))
f_pw <- glm(fml, family = poisson, offset = log(exposure), data = sp, control = ctl)
agg <- aggregate(cbind(status, exposure) ~ trial + therapy + interval + ti, data = sp, FUN = sum)
for (nm in tx_names) {
  parts <- regmatches(nm, regexec("therapy\\[(.*)\\]:interval\\[(.*)\\]", nm))[[1]]
  agg[[nm]] <- as.numeric(agg$therapy == parts[2] & agg$interval == as.numeric(parts[3]))
}
f_pw_agg <- glm(fml, family = poisson, offset = log(exposure), data = agg, control = ctl)
piecewise <- c(coef_list(f_pw, paste0("`", tx_names, "`")),
               list(labels = tx_names, cuts = arr(cuts), deviance = sc(deviance(f_pw_agg)), aic = sc(AIC(f_pw_agg)),
                    df_resid = sc(f_pw_agg$df.residual),
                    coef_agg = arr(setNames(coef(f_pw_agg), gsub("`", "", names(coef(f_pw_agg))))[tx_names]),
                    patient_deviance = sc(deviance(f_pw))))

# ---- one interval = constant hazard ratio ----
d$trial_f <- factor(d$trial)
d$th <- factor(d$therapy, levels = therapies)
f_one <- glm(status ~ 0 + trial_f + th, family = poisson, offset = log(time), data = d, control = ctl)
one <- coef_list(f_one, paste0("th", others))
one$labels <- paste0("therapy[", others, "]:interval[0]")

# the package's fine grid: 20 equal intervals up to the last time, each row's interval midpoint
# and its time at risk in that interval
split20 <- function(x) {
  end <- max(x$time)
  grid <- seq(0, end, length.out = 21)[2:20]
  out <- survSplit(Surv(time, status) ~ ., data = x, cut = grid, episode = "interval")
  lo <- c(0, grid); hi <- c(grid, end)
  out$mid <- (lo[out$interval] + hi[out$interval]) / 2
  out$exposure <- out$time - out$tstart
  list(data = out, end = end, grid = grid)
}

# ---- FP1 ---- the power of u = mid / end (the package's scale; the model is the same in t)
fine <- split20(d)
sg <- fine$data; end <- fine$end; grid <- fine$grid
fp <- list()
for (p in c(-1, 0, 0.5, 1)) {
  sg$f <- if (p == 0) log(sg$mid / end) else (sg$mid / end)^p
  for (x in others) { sg[[paste0("A_", x)]] <- as.numeric(sg$therapy == x)
                      sg[[paste0("B_", x)]] <- sg[[paste0("A_", x)]] * sg$f }
  sg$trial_f <- factor(sg$trial)
  fml <- as.formula(paste("status ~ 0 + trial_f + trial_f:f +",
                          paste0("`", c(paste0("A_", others), paste0("B_", others)), "`", collapse = " + ")))
  f <- glm(fml, family = poisson, offset = log(exposure), data = sg, control = ctl)
  ag <- aggregate(cbind(status, exposure) ~ trial + therapy + interval + f, data = sg, FUN = sum)
  ag$trial_f <- factor(ag$trial)
  for (x in others) { ag[[paste0("A_", x)]] <- as.numeric(ag$therapy == x)
                      ag[[paste0("B_", x)]] <- ag[[paste0("A_", x)]] * ag$f }
  fa <- glm(fml, family = poisson, offset = log(exposure), data = ag, control = ctl)
  nm <- paste0("`", c(rbind(paste0("A_", others), paste0("B_", others))), "`")
  fp[[length(fp) + 1]] <- c(list(power = p), coef_list(f, nm),
                            list(labels = c(rbind(paste0("therapy[", others, "]"), paste0("therapy[", others, "]:f(t)"))),
                                 deviance = sc(deviance(fa)), aic = sc(AIC(fa))))
}

# ---- FP2 ---- the powers of u = mid / end (the package's scale; the model is the same in t)
fp2 <- list()
for (pp in list(c(0, 0.5), c(0, 0), c(-1, 1), c(1, 3))) {
  u <- sg$mid / end
  fu <- function(p) if (p == 0) log(u) else u^p
  sg$f1 <- fu(pp[1])
  sg$f2 <- if (pp[1] == pp[2]) fu(pp[1]) * log(u) else fu(pp[2])
  for (x in others) { sg[[paste0("A_", x)]] <- as.numeric(sg$therapy == x)
                      sg[[paste0("B_", x)]] <- sg[[paste0("A_", x)]] * sg$f1
                      sg[[paste0("C_", x)]] <- sg[[paste0("A_", x)]] * sg$f2 }
  sg$trial_f <- factor(sg$trial)
  terms <- c(paste0("A_", others), paste0("B_", others), paste0("C_", others))
  fml <- as.formula(paste("status ~ 0 + trial_f + trial_f:f1 + trial_f:f2 +",
                          paste0("`", terms, "`", collapse = " + ")))
  f <- glm(fml, family = poisson, offset = log(exposure), data = sg, control = ctl)
  ag <- aggregate(cbind(status, exposure) ~ trial + therapy + interval + f1 + f2, data = sg, FUN = sum)
  ag$trial_f <- factor(ag$trial)
  for (x in others) { ag[[paste0("A_", x)]] <- as.numeric(ag$therapy == x)
                      ag[[paste0("B_", x)]] <- ag[[paste0("A_", x)]] * ag$f1
                      ag[[paste0("C_", x)]] <- ag[[paste0("A_", x)]] * ag$f2 }
  fa <- glm(fml, family = poisson, offset = log(exposure), data = ag, control = ctl)
  nm <- paste0("`", c(rbind(paste0("A_", others), paste0("B_", others), paste0("C_", others))), "`")
  fp2[[length(fp2) + 1]] <- c(list(powers = arr(pp)), coef_list(f, nm),
                              list(labels = c(rbind(paste0("therapy[", others, "]"),
                                                    paste0("therapy[", others, "]:f1(t)"),
                                                    paste0("therapy[", others, "]:f2(t)"))),
                                   deviance = sc(deviance(fa)), aic = sc(AIC(fa))))
}

# ---- a trial without early events ---- tests/data/late_trial_network.csv: trial C's patients
# are at risk of the event only after t = 25, so its cells before then have no events and, with a
# negative power, fitted rates that underflow ("fitted rates numerically 0"); glm still reaches its
# maximum (statsmodels' IRLS stopped short there). The table of counts is fitted, as the package does.
lt <- read.csv("tests/data/late_trial_network.csv", stringsAsFactors = FALSE)
lt$status <- lt$event
late <- split20(lt)
ls <- late$data; lend <- late$end
lag <- aggregate(cbind(status, exposure) ~ trial + therapy + interval + mid, data = ls, FUN = sum)
lag$trial_f <- factor(lag$trial)
lag$drug <- as.numeric(lag$therapy == "drug")
lu <- lag$mid / lend
lfu <- function(p) if (p == 0) log(lu) else lu^p
quiet_glm <- function(fml) suppressWarnings(
  glm(fml, family = poisson, offset = log(exposure), data = lag, control = glm.control(epsilon = 1e-12, maxit = 500)))
late_fp1 <- list()
for (p in c(-2, -1, -0.5, 0, 0.5, 1, 2, 3)) {
  lag$f1 <- lfu(p)
  f <- quiet_glm(status ~ 0 + trial_f + trial_f:f1 + drug + drug:f1)
  stopifnot(f$converged)
  late_fp1[[length(late_fp1) + 1]] <- c(list(power = p), coef_list(f, c("drug", "f1:drug")),
                                        list(deviance = sc(deviance(f)), aic = sc(AIC(f))))
}
late_fp2 <- list()
for (pp in list(c(-2, -2), c(-2, 0.5), c(-1, 1), c(-1, 2), c(0, 0))) {
  lag$f1 <- lfu(pp[1])
  lag$f2 <- if (pp[1] == pp[2]) lfu(pp[1]) * log(lu) else lfu(pp[2])
  f <- quiet_glm(status ~ 0 + trial_f + trial_f:f1 + trial_f:f2 + drug + drug:f1 + drug:f2)
  stopifnot(f$converged)
  late_fp2[[length(late_fp2) + 1]] <- c(list(powers = arr(pp)),
                                        coef_list(f, c("drug", "f1:drug", "f2:drug")),
                                        list(deviance = sc(deviance(f)), aic = sc(AIC(f))))
}

out <- list(
  meta = list(R_version = R.version.string, survival_version = as.character(packageVersion("survival"))),
  data = list(trial = d$trial, therapy = d$therapy, time = arr(d$time), event = arr(d$status)),
  reference = "Obs", end = end, grid = arr(grid),
  piecewise = piecewise, one_interval = one, fp1 = fp, fp2 = fp2,
  late = list(fp1 = late_fp1, fp2 = late_fp2))
writeLines(to_json(out), out_path)
