"""The data flow of design.md, read from the imports: a box never imports from a box below it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "metaanalysis"

# design.md's boxes from top to bottom; a module may import its own box or any box above it.
RANK = {
    "_base": 0, "errors": 0, "_version": 0, "fileio": 0,
    "studies": 1, "datasets": 1,
    "effects": 2,
    "survival": 3,
    "pooling": 4,
    "network": 5, "simulate": 5, "distributed": 5, "batch": 5, "living": 5,
    "review": 6, "plots": 6,
    "report": 7,
    # the analysis subcommands' CSV reader (it uses review/_files.py's) and the subcommands
    "csv_inputs": 7,
    "cli": 8, "cli_analyses": 8, "__main__": 8, "__init__": 8,
}
HEAVY = ("matplotlib", "lifelines", "statsmodels")


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def box_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_boxes(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[: len(rel) - node.level])
                target = base + (node.module.split(".") if node.module else [])
                # "from . import x" at the package root imports from __init__ unless x is a box
                names = [a.name for a in node.names]
                if not target:
                    target = [names[0] if names[0] in RANK else "__init__"]
                yield node.lineno, target[0]
            elif node.module and node.module.split(".")[0] == "metaanalysis":
                parts = node.module.split(".")
                yield node.lineno, parts[1] if len(parts) > 1 else node.names[0].name
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "metaanalysis" and len(parts) > 1:
                    yield node.lineno, parts[1]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_down(path):
    box = box_of(path)
    assert box in RANK, f"{path}: box {box!r} is not placed in design.md's flow (add it to RANK)"
    for lineno, target in imported_boxes(path):
        assert target in RANK, f"{path}:{lineno} imports unknown box {target!r}"
        assert RANK[target] <= RANK[box], (
            f"{path}:{lineno}: {box} (rank {RANK[box]}) imports {target} (rank {RANK[target]}), "
            "a box below it"
        )


def absolute_imports(node):
    """Top-level package names an import statement names (relative imports excluded)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        return [node.module.split(".")[0]]
    return []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_heavy_libraries_only_inside_functions_and_matplotlib_only_in_plots(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    box = box_of(path)
    for node in ast.walk(tree):
        if "matplotlib" in absolute_imports(node):
            assert box == "plots", f"{path}:{node.lineno} imports matplotlib outside plots/"
    for node in tree.body:  # module level only
        for name in absolute_imports(node):
            assert name not in HEAVY, (
                f"{path}:{node.lineno} imports {name} at module level; import it inside the "
                "function so that `import metaanalysis` stays fast"
            )


def test_import_is_light():
    code = ("import sys, metaanalysis; "
            "print(','.join(m for m in ('matplotlib', 'lifelines', 'statsmodels', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_subpackages_are_attributes_without_an_import():
    # ma.plots.regplot(...) in a fresh session, as the README and notebooks write it
    code = ("import metaanalysis as ma; print(ma.plots.regplot.__name__, "
            "ma.survival.__name__, ma.pooling.pool.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["regplot", "metaanalysis.survival", "pool"]


def test_error_hierarchy():
    from metaanalysis import errors

    assert issubclass(errors.InputError, ValueError)
    assert issubclass(errors.StudyTableError, ValueError)
    assert issubclass(errors.ConvergenceError, RuntimeError)
    for cls in (errors.InputError, errors.StudyTableError, errors.ConvergenceError):
        assert issubclass(cls, errors.MetaAnalysisError)


def test_every_public_name_resolves_and_is_documented():
    import metaanalysis as ma

    # what a notebook's tab completion offers is the API, not the package's own imports
    # (ma.importlib was one)
    import types

    leaked = [n for n in dir(ma) if not n.startswith("_") and n not in ma.__all__
              and isinstance(getattr(ma, n), types.ModuleType)
              and not getattr(ma, n).__name__.startswith("metaanalysis")]
    assert leaked == []
    for name in ma.__all__:
        obj = getattr(ma, name)
        if callable(obj):
            doc = obj.__doc__ or ""
            assert len(doc.strip()) > 40, f"ma.{name} has no real docstring"


def test_every_result_class_has_a_one_line_repr():
    """A dataclass's generated __repr__ would replace ResultMixin's one-line form (repr=False)."""
    import importlib
    import pkgutil

    import metaanalysis
    from metaanalysis._base import ResultMixin

    for info in pkgutil.walk_packages(metaanalysis.__path__, "metaanalysis."):
        if ".plots" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    found = list(subclasses(ResultMixin))
    assert len(found) > 15
    # dataclasses build their generated methods with exec(): the code's file is dataclasses.py (or
    # "<string>" in some Python versions), never one of ours
    generated = [f"{c.__module__}.{c.__name__}" for c in found
                 if c.__repr__.__code__.co_filename == "<string>"
                 or c.__repr__.__code__.co_filename.endswith("dataclasses.py")]
    assert generated == [], f"these use the dataclass's generated __repr__; add repr=False: {generated}"
