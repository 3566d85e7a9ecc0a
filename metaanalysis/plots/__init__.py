"""Figures: forest plots, funnel-type plots, survival curves, network figures, export.

Every function takes a result object (or the DataFrame the computing side returns) and ``ax=None``
and returns the matplotlib Axes it drew on; none of them fits a model. matplotlib is imported only
when a figure is drawn: the submodules are loaded on first use of a name.
"""

from __future__ import annotations

import importlib

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
    "km_plot": "survival",
    "modelled_curves_plot": "survival",
    "modelled_curves_panels": "survival",
    "plot_survival_models": "survival_models",
    "plot_hazards": "survival_models",
    "plot_ph_check": "survival_models",
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


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'metaanalysis.plots' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
