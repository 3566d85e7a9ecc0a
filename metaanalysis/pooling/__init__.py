"""Pooling: equal- and random-effects models, every tau² estimator, binary outcomes, proportions,
subgroups, meta-regression, small-study tests, sensitivity analyses and pooled survival summaries,
each reproducing metafor's numbers.

The core (``tau2``, ``core``, ``regression``, ``subgroups``) is pure numpy; the other modules build
on :func:`pool` and :func:`meta_regression` and never the other way round.
"""

from __future__ import annotations

from .tau2 import METHODS, Tau2Estimate, q_statistic, tau2_estimate
from .batch import pool_many
from .core import ConfintResult, PoolResult, Prediction, pool
from .regression import RegressionLine, RegressionResult, design_matrix, meta_regression, regression_line
from .subgroups import SubgroupResult, subgroup_analysis
from .binary import BinaryPoolResult, mantel_haenszel, peto, pool_binary
from .incidence import mantel_haenszel_rates, pool_incidence
from .aggregate import aggregate_effects
from .location_scale import LocationScaleResult, rma_ls
from .proportions import ProportionPoolResult, back_transform, clopper_pearson, fit_glmm_logit, pool_proportions
from .bias import (
    BinaryBiasResult,
    EggerResult,
    RankResult,
    TrimFillResult,
    binary_bias_test,
    egger_test,
    kendall_tau,
    rank_test,
    trim_and_fill,
)
from .sensitivity import GoshResult, baujat_coordinates, cumulative, gosh, influence, leave_one_out
from .survival import (
    LandmarkPoolResult,
    MedianPoolResult,
    MedianSurvivalPoolResult,
    PooledSurvivalCurves,
    QEStudyFit,
    median_of_medians,
    pool_landmark_survival,
    pool_median_survival,
    pool_medians_qe,
    pool_survival_curves,
    qe_median_variance,
    weighted_median_of_medians,
    weighted_quantile,
)

from .selection import SelModelResult, selmodel
from .pubbias import FsnResult, HenmiCopasResult, PetPeeseResult, TesResult, fsn, henmi_copas, pet_peese, tes
from .multilevel import MultilevelResult, correlated_outcomes_v, profile_mv, rma_mv, shared_control_v
from .robust import RobustResult, robust
from .glmm import GlmmResult, rma_glmm
from .permutation import LocationScalePermutation, PermutationResult, permutest
from .rmst import RMSTPoolResult, pool_rmst, rmst_over_tau, rmst_per_trial, two_stage_vs_one_stage
from .diagnostics import (
    BlupResult,
    FitStats,
    LikelihoodRatioResult,
    ProfileResult,
    QQResult,
    ResidualResult,
    VifResult,
    WaldResult,
    aic,
    aicc,
    anova,
    bic,
    blup,
    cooks_distance,
    deviance,
    dfbetas,
    fitstats,
    hatvalues,
    profile_tau2,
    qq_residuals,
    loglik,
    ranef,
    rstandard,
    rstudent,
    vif,
)

__all__ = [
    "pool_many",
    # core
    "pool", "PoolResult", "Prediction", "ConfintResult", "tau2_estimate", "Tau2Estimate", "METHODS",
    "q_statistic", "meta_regression", "RegressionResult", "design_matrix", "regression_line",
    "RegressionLine", "subgroup_analysis",
    "SubgroupResult",
    # binary and proportions
    "pool_binary", "BinaryPoolResult", "mantel_haenszel", "peto", "pool_incidence",
    "mantel_haenszel_rates", "aggregate_effects", "pool_proportions",
    "ProportionPoolResult", "back_transform", "clopper_pearson", "fit_glmm_logit",
    # small-study effects and sensitivity
    "baujat_coordinates",
    "egger_test", "EggerResult", "binary_bias_test", "BinaryBiasResult", "rank_test", "RankResult", "kendall_tau", "trim_and_fill",
    "TrimFillResult", "leave_one_out", "cumulative", "influence", "gosh", "GoshResult",
    # survival summaries
    "median_of_medians", "weighted_median_of_medians", "weighted_quantile", "MedianPoolResult",
    "qe_median_variance", "QEStudyFit", "pool_medians_qe", "pool_median_survival",
    "MedianSurvivalPoolResult", "pool_landmark_survival", "LandmarkPoolResult", "pool_survival_curves",
    "PooledSurvivalCurves", "pool_rmst", "RMSTPoolResult", "rmst_per_trial", "rmst_over_tau",
    "two_stage_vs_one_stage",
    # publication bias beyond funnel asymmetry
    "selmodel", "SelModelResult", "fsn", "FsnResult", "tes", "TesResult", "pet_peese", "PetPeeseResult",
    "henmi_copas", "HenmiCopasResult",
    # dependence
    "permutest", "PermutationResult", "LocationScalePermutation", "rma_glmm", "GlmmResult", "rma_mv", "profile_mv", "MultilevelResult", "rma_ls", "LocationScaleResult", "shared_control_v", "correlated_outcomes_v", "robust", "RobustResult",
    # diagnostics
    "rstandard", "rstudent", "hatvalues", "cooks_distance", "dfbetas", "blup", "ranef", "vif", "anova",
    "fitstats", "loglik", "deviance", "aic", "bic", "aicc", "profile_tau2", "ProfileResult", "qq_residuals", "QQResult", "ResidualResult", "BlupResult", "VifResult",
    "WaldResult", "FitStats", "LikelihoodRatioResult",
]
