"""Figures: forest plots, funnel-type plots, meta-regression bubble plots, survival curves,
network figures, export.

Every function takes a result object (or the DataFrame the computing side returns) and ``ax=None``
and returns the matplotlib Axes it drew on; none of them fits a model. matplotlib is imported only
when a figure is drawn: the submodules are loaded on first use of a name.
"""

from __future__ import annotations

import importlib
import sys
import types

# public name -> submodule
_LAZY = {
    "forest": "forest",
    "forest_table": "forest",
    "sensitivity_table": "forest",
    "cumulative_forest": "forest",
    "leave_one_out_forest": "forest",
    "funnel": "funnel",
    "galbraith": "funnel",
    "baujat": "funnel",
    "labbe": "funnel",
    "regplot": "regression",
    "profile_plot": "diagnostics",
    "gosh_plot": "diagnostics",
    "qq_plot": "diagnostics",
    "km_plot": "survival",
    "modelled_curves_plot": "survival",
    "modelled_curves_panels": "survival",
    "plot_survival_models": "survival_models",
    "plot_hazards": "survival_models",
    "plot_ph_check": "survival_models",
    "plot_hr_over_time": "survival_models",
    "plot_rmst_over_tau": "survival_models",
    "plot_extrapolation": "survival_models",
    "plot_survival_network": "survival_models",
    "network_graph": "network",
    "network_forest": "network",
    "network_forest_table": "network",
    "league_heatmap": "network",
    "rankogram": "network",
    "traffic_light": "risk_of_bias",
    "rob_summary": "risk_of_bias",
    "rob_columns": "risk_of_bias",
    "save_figure": "export",
    "JOURNAL_WIDTHS_MM": "_style",
    "style": "_style",
}

__all__ = sorted(_LAZY)


class _PlotsPackage(types.ModuleType):
    """The package, with one difference from a plain module: importing a submodule binds it on
    the package under its own name, and two of them share that name with the package's function
    (``forest``, ``funnel``). Drawing a Galbraith plot first (which loads ``funnel.py``) then
    left ``plots.funnel`` the module, and ``plots.funnel(res)`` failed; the function is kept."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PlotsPackage


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'metaanalysis.plots' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
