"""Shared plumbing: argument checks and the behaviour every frozen result object has.

Nothing statistical lives here; the estimators import these helpers so that a level, an array of
study values or a result's printed form is handled the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from typing import Any

import numpy as np

from .errors import InputError


def check_level(level: float) -> float:
    """Return a confidence level as a percentage in (50, 100).

    metafor takes ``level=95``; a fraction in (0.5, 1) is accepted too. Anything else, including
    ``1`` and metafor's silent reading of ``0.05`` as alpha, is an :class:`InputError`.

    Examples
    --------
    >>> check_level(95), check_level(0.9)
    (95.0, 90.0)
    """
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise InputError(f"level must be a number such as 95 or 0.95, got {level!r}") from None
    if 0.5 < value < 1:
        return value * 100.0
    if 50 < value < 100:
        return value
    raise InputError(
        f"level={level!r} is not a confidence level: give a percentage in (50, 100) such as 95, "
        "or a fraction in (0.5, 1) such as 0.95 (an alpha such as 0.05 is not accepted)"
    )


def positive_number(value, name: str) -> float:
    """``value`` as a finite float > 0, or an :class:`InputError` naming ``name``.

    Examples
    --------
    >>> positive_number("2.5", "tau")
    2.5
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not (math.isfinite(x) and x > 0):
        raise InputError(f"{name} must be a positive number; got {value!r}")
    return x


def progress_bar(total: int, *, desc: str, unit: str, progress=None, initial: int = 0):
    """A tqdm bar on stderr for a long loop, or None (then the caller shows nothing).

    ``progress=None`` shows the bar only when stderr is a terminal (so logs and pipes stay clean);
    True always, False never. Without tqdm (an optional dependency) there is no bar.
    """
    import sys

    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr)


def zcrit(level: float) -> float:
    """Two-sided standard normal critical value for a level given as a percentage."""
    from scipy.special import ndtri

    return float(ndtri(1 - (1 - level / 100.0) / 2))


def as_float_array(values, name: str, *, allow_nan: bool = False, ndim: int = 1) -> np.ndarray:
    """Convert ``values`` to a float array of ``ndim`` dimensions, naming the bad entry on failure."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric; got {values!r}") from None
    if arr.ndim == 0 and ndim == 1:
        arr = arr.reshape(1)
    if arr.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if not allow_nan:
        bad = np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)) if arr.size else []
        if len(bad):
            raise InputError(
                f"{name} has a missing or infinite value at index {int(bad[0])}"
                + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
                + "; remove the study or supply a finite number"
            )
    return arr


def same_length(**arrays: np.ndarray) -> int:
    """Check that the named arrays share their first dimension; return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise InputError(f"arguments must have one value per study; lengths differ: {detail}")
    return next(iter(lengths.values())) if lengths else 0


def readonly(arr) -> np.ndarray:
    """A read-only float copy, so frozen results cannot be changed through their arrays."""
    out = np.array(arr, dtype=float, copy=True)
    out.setflags(write=False)
    return out


def jsonable(value: Any) -> Any:
    """Plain Python (floats, lists, dicts, str, None) so ``json.dumps`` works; NaN becomes None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return jsonable(value.to_dict())
    return value


def fmt(x: float, digits: int = 4) -> str:
    """Format a number the way metafor prints it: fixed digits, ``NA`` for missing."""
    if x is None:
        return "NA"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(xf):
        return "NA" if math.isnan(xf) else ("Inf" if xf > 0 else "-Inf")
    return f"{xf:.{digits}f}"


def fmt_p(p: float) -> str:
    """Format a p-value as metafor does (``<.0001`` below 1e-4)."""
    if p is None or not math.isfinite(float(p)):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


class ResultMixin:
    """Behaviour shared by the frozen result dataclasses.

    Subclasses are ``@dataclass(frozen=True, eq=False, repr=False)`` (so that the one-line
    ``__repr__`` here is not replaced by the generated one) and implement :meth:`to_dict` and
    :meth:`summary`. ``to_frame`` defaults to a one-row frame of the scalar entries of ``to_dict``.
    """

    def to_dict(self) -> dict:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def to_json(self, **kwargs) -> str:
        return json.dumps(jsonable(self.to_dict()), **kwargs)

    def to_frame(self):
        import pandas as pd

        scalars = {k: v for k, v in self.to_dict().items() if not isinstance(v, (list, dict))}
        return pd.DataFrame([scalars])

    def summary(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def __str__(self) -> str:
        return self.summary()

    def _short(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._short()}>".replace(" >", ">")

    def _repr_html_(self) -> str:
        return (
            '<pre style="font-family:monospace;font-size:0.9em">'
            + html.escape(self.summary())
            + "</pre>"
        )


def freeze_arrays(obj) -> None:
    """Make every ndarray field of a frozen dataclass read-only (call from ``__post_init__``)."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, np.ndarray):
            v.setflags(write=False)


class frame_field:
    """A pandas field of a frozen dataclass that cannot be changed through the object.

    A frozen dataclass stops ``result.table = x`` but not ``result.table["hr"] *= 2``, which
    would change what the result's ``summary()``, ``to_dict()`` and figures show afterwards. The
    object keeps its own copy of the frame (or series) it is given and hands out copies (cheap
    under pandas' copy-on-write), so a caller may change what it gets back freely. Anything that
    is not a pandas object (``None``, a list) is kept and returned as it is.

    Use it as the field's default: ``table: object = frame_field()`` (no default: the argument
    is required) or ``frame_field(None)``.

    Examples
    --------
    >>> import dataclasses, pandas as pd
    >>> @dataclasses.dataclass(frozen=True)
    ... class Result:
    ...     table: object = frame_field()
    >>> r = Result(pd.DataFrame({"hr": [0.5]}))
    >>> t = r.table
    >>> t["hr"] *= 2
    >>> float(t["hr"].iloc[0]), float(r.table["hr"].iloc[0])
    (1.0, 0.5)
    """

    _NO_DEFAULT = object()

    def __init__(self, default=_NO_DEFAULT):
        self.default = default

    def __set_name__(self, owner, name):
        self.name = name
        self.private = "_frame_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            # a dataclass asks the class for the field's default: none unless one was given
            if self.default is frame_field._NO_DEFAULT:
                raise AttributeError(self.name)
            return self.default
        value = obj.__dict__[self.private]
        return value.copy() if _is_pandas(value) else value

    def __set__(self, obj, value):
        # reached through the frozen dataclass's own __init__ (object.__setattr__); assignment
        # from outside is refused by the frozen __setattr__ before it gets here
        obj.__dict__[self.private] = value.copy() if _is_pandas(value) else value


class FrozenDict(dict):
    """A dict that refuses changes: what a frozen result holds in a dict field.

    It is still a ``dict`` (``json.dumps``, ``pd.DataFrame``, ``isinstance`` and ``**`` work
    on it); ``dict(d)`` or ``d.copy()`` gives a plain dict to change.

    Examples
    --------
    >>> d = FrozenDict({"tau2": 0.1})
    >>> d["tau2"] = 0.2
    Traceback (most recent call last):
    ...
    TypeError: this FrozenDict belongs to a frozen result and cannot be changed; change a copy (dict(...))
    >>> dict(d) | {"tau2": 0.2}
    {'tau2': 0.2}
    """

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError(f"this {type(self).__name__} belongs to a frozen result and cannot be "
                        "changed; change a copy (dict(...))")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __hash__(self):
        # hashable like a tuple: only when every value is (a dataclass default must be hashable)
        return hash(frozenset(self.items()))

    def __reduce__(self):
        # pickle and copy rebuild it from a plain dict (their default path would set items)
        return (type(self), (dict(self),))


class FrozenList(list):
    """A list that refuses changes: what a frozen result holds in a list field.

    ``list(x)`` or ``x.copy()`` gives a plain list to change.

    Examples
    --------
    >>> w = FrozenList(["a warning"])
    >>> w.append("another")
    Traceback (most recent call last):
    ...
    TypeError: this FrozenList belongs to a frozen result and cannot be changed; change a copy (list(...))
    >>> w + ["another"]
    ['a warning', 'another']
    """

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError(f"this {type(self).__name__} belongs to a frozen result and cannot be "
                        "changed; change a copy (list(...))")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __hash__(self):
        return hash(tuple(self))

    def __reduce__(self):
        return (type(self), (list(self),))


def deep_freeze(value):
    """``value`` with its dicts, lists and sets (at any depth) made read-only copies.

    Dicts become :class:`FrozenDict`, lists :class:`FrozenList`, sets ``frozenset`` and arrays
    read-only copies; tuples are walked. Other objects (frozen results among them) are kept as
    they are; the caller's containers are not touched.
    """
    if isinstance(value, (FrozenDict, FrozenList, frozenset)):
        return value
    if isinstance(value, dict):
        return FrozenDict((k, deep_freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return FrozenList(deep_freeze(v) for v in value)
    if type(value) is tuple:
        return tuple(deep_freeze(v) for v in value)
    if isinstance(value, set):
        return frozenset(value)
    if isinstance(value, np.ndarray) and value.flags.writeable:
        out = value.copy()
        out.setflags(write=False)
        return out
    return value


class frozen_field:
    """A dict or list field of a frozen dataclass that cannot be changed through the object.

    A frozen dataclass stops ``result.grade = x`` but not ``result.grade["os"] = x``. The object
    keeps a :func:`deep_freeze` copy of what it is given (dicts and lists at any depth refuse
    changes), so what it prints and exports is what it was built with.

    Use it as the field's default: ``warnings: list = frozen_field([])``; no default makes the
    argument required.

    Examples
    --------
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Result:
    ...     random: dict = frozen_field()
    >>> r = Result({"tau2": (0.1, 0.0, 0.4)})
    >>> r.random["tau2"] = (0, 0, 0)
    Traceback (most recent call last):
    ...
    TypeError: this FrozenDict belongs to a frozen result and cannot be changed; change a copy (dict(...))
    """

    _NO_DEFAULT = object()

    def __init__(self, default=_NO_DEFAULT):
        self.default = (default if default is frozen_field._NO_DEFAULT
                        else _FrozenDefault(deep_freeze(default)))

    def __set_name__(self, owner, name):
        self.name = name
        self.private = "_frozen_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            if self.default is frozen_field._NO_DEFAULT:
                raise AttributeError(self.name)
            return self.default
        return obj.__dict__[self.private]

    def __set__(self, obj, value):
        # reached through the dataclass's own __init__ (frozen: object.__setattr__)
        if isinstance(value, _FrozenDefault):
            value = value.value
        obj.__dict__[self.private] = deep_freeze(value)


class _FrozenDefault:
    """The class-level default of a :class:`frozen_field`, handed to the dataclass machinery.

    Python 3.10's dataclasses refuse any dict or list as a default (3.11 on: any unhashable
    one), frozen or not, so the default travels wrapped and ``frozen_field`` unwraps it.
    """

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return self.value == (other.value if isinstance(other, _FrozenDefault) else other)

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return repr(self.value)


def _is_pandas(value) -> bool:
    import pandas as pd

    return isinstance(value, (pd.DataFrame, pd.Series))


# A cell a spreadsheet would run as a formula starts with one of these (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def spreadsheet_safe(frame):
    """A copy of ``frame`` for a CSV meant to be opened in a spreadsheet: text cells that a
    spreadsheet would run as a formula are neutralised with a leading single quote.

    A text cell (also a column name or an index label) starting with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return gets a ``'`` in front (``=HYPERLINK(...)`` becomes
    ``'=HYPERLINK(...)``), unless it is a plain number such as ``-0.5``, which a spreadsheet reads
    as that number. Numbers stay numbers: numeric columns, and numbers in mixed columns, are not
    touched, so ``-0.5`` stored as a number is still ``-0.5``. Use it on exports (report tables);
    the study table itself is kept as typed. Write the result with
    ``to_csv(..., lineterminator="\r\n")``: the csv module then quotes a cell that holds a
    carriage return, which a spreadsheet would otherwise read as the start of a new row.

    Examples
    --------
    >>> import pandas as pd
    >>> spreadsheet_safe(pd.DataFrame({"trial": ["=1+2", "A"], "hr": [-0.5, 0.7]})).to_dict("list")
    {'trial': ["'=1+2", 'A'], 'hr': [-0.5, 0.7]}
    """
    import pandas as pd

    def safe(v):
        if isinstance(v, str) and v.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(v):
            return "'" + v
        return v

    out = frame.copy()
    for j in range(out.shape[1]):
        col = out.iloc[:, j]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        elif not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        out.isetitem(j, col.map(safe))
    out.columns = out.columns.map(safe)
    out.index = out.index.map(safe)
    return out
