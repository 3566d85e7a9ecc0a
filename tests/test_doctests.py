"""Every docstring example of the package runs and prints what it shows (numpydoc ``Examples``).

An example that needs files outside the package (``data/studies.csv``) or draws a figure is marked
``# doctest: +SKIP`` in place; everything else runs here, so an example cannot drift from the
code it documents (``piecewise_hr``'s once showed [0.5, 0.5] for what the call returns as
[0.64, 0.57]).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import metaanalysis

MODULES = sorted(m.name for m in pkgutil.walk_packages(metaanalysis.__path__, "metaanalysis.")
                 if not m.name.endswith("__main__"))


def test_the_walk_finds_the_package():
    assert len(MODULES) > 60 and "metaanalysis.survival.ph" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"
