"""Shared test settings."""

from __future__ import annotations

import pytest


def _freetype_minor():
    try:
        from matplotlib import ft2font
    except ImportError:
        return None
    parts = str(getattr(ft2font, "__freetype_version__", "0.0")).split(".")
    return tuple(int(p) for p in parts[:2] if p.isdigit())


# The committed PNG baselines were rasterised with the FreeType that matplotlib >= 3.11 bundles
# (2.14); matplotlib 3.10 (the newest for Python 3.10) bundles FreeType 2.6.1, which draws text
# differently (RMS 17-42 on text-heavy figures). That is rendering, not behaviour, so such a run
# skips the pixel comparisons and says why; the structural figure tests still run.
needs_baseline_freetype = pytest.mark.skipif(
    (_freetype_minor() or (0, 0)) < (2, 14),
    reason="PNG baselines are drawn with FreeType >= 2.14 (matplotlib >= 3.11); this matplotlib "
           "bundles an older FreeType that rasterises text differently",
)


# The tests check what the code draws and fits now: the report's cache of earlier runs (which
# would skip the drawing under test) is off for them and for the commands they run;
# tests/test_report_cache.py turns it on in its own folders.
import os  # noqa: E402

os.environ["METAANALYSIS_CACHE"] = "off"
