"""metaanalysis: meta-analysis and survival statistics of published clinical trials.

Results reported in papers are coded into one study table with provenance for every number; from
it the toolkit computes effect sizes, pools them with metafor's estimators, reconstructs survival
curves, compares therapies in a network and draws publication-quality figures.

>>> import metaanalysis as ma
>>> res = ma.pool([0.1, 0.3, 0.35], [0.01, 0.02, 0.015], method="REML")   # doctest: +SKIP
>>> print(res)                                                              # doctest: +SKIP

The public names are loaded on first use so that ``import metaanalysis`` stays fast (matplotlib,
lifelines and statsmodels are imported only by the functions that need them).
"""

from __future__ import annotations

import importlib as _importlib

from .errors import ConvergenceError, InputError, MetaAnalysisError, StudyTableError

from ._version import __version__

# public name -> module that defines it (relative to this package)
_LAZY = {
    # studies
    "read_studies": "studies",
    "validate_studies": "studies",
    "StudyTable": "studies",
    "append_rows": "studies",
    # example datasets (metafor's classics, the RAIR-DTC table)
    "load_bcg": "datasets",
    "load_li2007": "datasets",
    "load_pritz1997": "datasets",
    "load_rair_dtc": "datasets",
    # review: protocol, study characteristics, the analyses the protocol declares
    "read_protocol": "review",
    "read_trials": "review",
    "run_review": "review",
    "read_risk_of_bias": "review.risk_of_bias",
    "ReviewResult": "review",
    # effects
    "escalc": "effects",
    "effects_from_table": "effects",
    "ratio_from_ci": "effects",
    "median_from_ci": "effects",
    "difference_from_ci": "effects",
    "difference_from_pvalue": "effects",
    # pooling
    "pool": "pooling",
    "pool_many": "pooling",
    "PoolResult": "pooling",
    "pool_binary": "pooling",
    "pool_incidence": "pooling",
    "aggregate_effects": "pooling",
    "pool_proportions": "pooling",
    "meta_regression": "pooling",
    "regression_line": "pooling",
    "subgroup_analysis": "pooling",
    "egger_test": "pooling",
    "binary_bias_test": "pooling",
    "rank_test": "pooling",
    "trim_and_fill": "pooling",
    "leave_one_out": "pooling",
    "cumulative": "pooling",
    "influence": "pooling",
    "gosh": "pooling",
    "baujat_coordinates": "pooling",
    "tau2_estimate": "pooling",
    "median_of_medians": "pooling",
    "weighted_median_of_medians": "pooling",
    "pool_medians_qe": "pooling",
    "pool_median_survival": "pooling",
    "pool_landmark_survival": "pooling",
    "pool_survival_curves": "pooling",
    # the rest of metafor: publication bias, small-k inference, dependence, diagnostics, GLMMs, Bayes
    "selmodel": "pooling.selection",
    "fsn": "pooling.pubbias",
    "tes": "pooling.pubbias",
    "pet_peese": "pooling.pubbias",
    "henmi_copas": "pooling.pubbias",
    "permutest": "pooling.permutation",
    "rma_mv": "pooling.multilevel",
    "profile_mv": "pooling.multilevel",
    "rma_ls": "pooling.location_scale",
    "robust": "pooling.robust",
    "RobustResult": "pooling.robust",
    "MultilevelResult": "pooling.multilevel",
    "shared_control_v": "pooling.multilevel",
    "correlated_outcomes_v": "pooling.multilevel",
    "rma_glmm": "pooling.glmm",
    "bayesmeta": "pooling.bayes",
    "rstandard": "pooling.diagnostics",
    "rstudent": "pooling.diagnostics",
    "hatvalues": "pooling.diagnostics",
    "cooks_distance": "pooling.diagnostics",
    "dfbetas": "pooling.diagnostics",
    "blup": "pooling.diagnostics",
    "ranef": "pooling.diagnostics",
    "vif": "pooling.diagnostics",
    "anova": "pooling.diagnostics",
    "fitstats": "pooling.diagnostics",
    "profile_tau2": "pooling.diagnostics",
    "qq_residuals": "pooling.diagnostics",
    "loglik": "pooling.diagnostics",
    "deviance": "pooling.diagnostics",
    "aic": "pooling.diagnostics",
    "bic": "pooling.diagnostics",
    "aicc": "pooling.diagnostics",
    # survival
    "reconstruct_ipd": "survival",
    "read_curve": "survival",
    "write_curve": "survival",
    "simulate_digitisation": "survival",
    "km_table": "survival",
    "risk_table": "survival",
    "logrank": "survival",
    "cox_hr": "survival",
    "rmst_difference": "survival",
    "landmark_survival": "survival",
    "hr_from_ci": "survival",
    "hr_from_pvalue": "survival",
    "hr_from_pvalue_events": "survival",
    "hr_from_oe": "survival",
    "hr_from_medians": "survival",
    "exponential_from_median": "survival",
    "weibull_from_median": "survival",
    "weibull_from_quantiles": "survival",
    "simulate_ipd": "survival",
    "fit_survival_models": "survival.models",
    "ph_test": "survival.ph",
    "piecewise_hr": "survival.ph",
    "hr_over_time": "survival.ph",
    "cox_one_stage": "survival.onestage",
    "digitisation_uncertainty": "survival.uncertainty",
    "pool_rmst": "pooling.rmst",
    "rmst_per_trial": "pooling.rmst",
    "rmst_over_tau": "pooling.rmst",
    "two_stage_vs_one_stage": "pooling.rmst",
    "survival_nma": "network.survival",
    # network
    "network_meta": "network",
    "bucher": "network",
    "network_from_studies": "network",
    "network_survival": "network",
    # simulation studies and the Dask path
    "Scenario": "simulate",
    "run_simulation": "simulate",
    "run_scenario": "simulate",
    "pool_many_dask": "distributed",
    # report
    "build_report": "report",
    "diff_results": "report",
    # plots
    "forest": "plots",
    "funnel": "plots",
}

__all__ = [
    "ConvergenceError",
    "InputError",
    "MetaAnalysisError",
    "StudyTableError",
    "__version__",
    *_LAZY,
]


# subpackages reachable as attributes (ma.plots.regplot) without importing them first
_SUBPACKAGES = ("plots", "pooling", "survival", "review", "network", "report")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return _importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'metaanalysis' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
