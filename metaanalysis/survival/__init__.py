"""Survival curves from published trials.

- :mod:`.reconstruct`: individual patient data from a digitised Kaplan-Meier curve (Guyot et al.
  2012): :func:`reconstruct_ipd`, :class:`Reconstruction`, :func:`clean_curve`.
- :mod:`.curves`: the digitised-curve files of ``data/curves/``: :func:`read_curve`,
  :func:`write_curve`, :class:`DigitisedCurve`.
- :mod:`.digitise`: simulated digitisation for round trips: :func:`simulate_digitisation`,
  :func:`km_steps`.
- :mod:`.km`: Kaplan-Meier table, number at risk, log-rank, Cox HR, RMST, landmark survival
  (lifelines, imported inside the functions).
- :mod:`.parametric`: curves from reported medians (exponential, Weibull) and pseudo-patients.
- :mod:`.hazard`: hazard ratios from published summaries (Parmar 1998, Tierney 2007).
- :mod:`.models`: parametric and Royston-Parmar spline models on (reconstructed) patient data:
  :func:`fit_survival_models` (AIC/BIC table, extrapolation, mean survival).
- :mod:`.ph`: proportional hazards of two arms: :func:`ph_test` (``cox.zph``),
  :func:`piecewise_hr`, :func:`hr_over_time`.

Example
-------
>>> import metaanalysis as ma
>>> curve = ma.read_curve("data/curves/veteran_overall")      # doctest: +SKIP
>>> rec = curve.reconstruct()                                  # doctest: +SKIP
>>> from metaanalysis.survival import km_table
>>> km_table(rec.ipd, times=[0, 90, 180])                      # doctest: +SKIP
"""

from .curves import DigitisedCurve, read_curve, write_curve
from .digitise import RoundTrip, cox_log_hr, km_steps, round_trip, simulate_digitisation
from .hazard import *  # noqa: F401,F403  (public names listed in hazard.__all__)
from .hazard import __all__ as _hazard_all
from .km import (
    CoxResult,
    LandmarkResult,
    LogrankResult,
    RMSTResult,
    cox_hr,
    km_table,
    landmark_survival,
    logrank,
    risk_table,
    rmst_difference,
)
from .parametric import *  # noqa: F401,F403  (public names listed in parametric.__all__)
from .parametric import __all__ as _parametric_all
from .reconstruct import Reconstruction, clean_curve, reconstruct_ipd

__all__ = [
    "reconstruct_ipd",
    "Reconstruction",
    "clean_curve",
    "read_curve",
    "write_curve",
    "DigitisedCurve",
    "simulate_digitisation",
    "km_steps",
    "round_trip",
    "RoundTrip",
    "cox_log_hr",
    "km_table",
    "risk_table",
    "logrank",
    "cox_hr",
    "rmst_difference",
    "landmark_survival",
    "LogrankResult",
    "CoxResult",
    "RMSTResult",
    "LandmarkResult",
    *_parametric_all,
    *_hazard_all,
]
