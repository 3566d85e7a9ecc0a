"""network: indirect comparisons and frequentist network meta-analysis.

* :func:`bucher`: adjusted indirect comparison of two treatments through a common comparator.
* :func:`network_meta`: contrast-based network meta-analysis (common effect, or random effects
  with one shared tau² by REML, ML or netmeta's DL-type estimator) from arm-level or
  contrast-level data, multi-arm trials handled exactly; its :class:`NetworkResult` gives
  ``.effects``, ``.league()``, ``.pscores()``, ``.sucra()``, ``.node_split()``,
  ``.decomposition()`` and the plot-ready ``.edges`` / ``.nodes`` frames.
* :func:`network_from_studies`: the hazard-ratio (or other contrast) network from the study table,
  with the caveats a reviewer would raise.
* :func:`network_survival`: a hazard-ratio network's therapies on one exponential baseline curve
  (modelled curves and medians, proportional hazards).

Checked against metafor's ``rma.mv`` by ``tests/reference/network.R``.
"""

from .baseline import NetworkSurvivalResult, network_survival
from .bucher import BucherResult, bucher
from .inconsistency import decomp_design, design_heterogeneity, node_split
from .model import NetworkResult, fit_network, network_meta
from .ranking import RankingResult, pscores, sucra
from .studytable import (
    RAIR_DTC_CAVEATS,
    RAIR_DTC_PFS_CAVEATS,
    arms_from_studies,
    contrasts_from_studies,
    network_from_studies,
)

__all__ = [
    "BucherResult",
    "NetworkResult",
    "NetworkSurvivalResult",
    "RankingResult",
    "RAIR_DTC_CAVEATS",
    "RAIR_DTC_PFS_CAVEATS",
    "arms_from_studies",
    "bucher",
    "contrasts_from_studies",
    "decomp_design",
    "design_heterogeneity",
    "fit_network",
    "network_from_studies",
    "network_meta",
    "network_survival",
    "node_split",
    "pscores",
    "sucra",
]
