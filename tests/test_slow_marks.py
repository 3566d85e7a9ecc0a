"""The `slow` marks CI's oldest-versions pass leaves out (tests/conftest.py SLOW) name tests that
exist: a renamed test would otherwise drop its mark without a word."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import SLOW

ROOT = Path(__file__).resolve().parents[1]


def test_every_slow_prefix_names_a_test_file_and_function():
    for prefix in SLOW:
        path, _, rest = prefix.partition("::")
        file = ROOT / path
        assert file.is_file(), f"{prefix}: no file {path}"
        if rest:
            name = rest.split("[")[0]
            assert re.search(rf"^def {re.escape(name)}\w*\(", file.read_text(encoding="utf-8"), re.M), (
                f"{prefix}: no test function starting {name!r} in {path}")
