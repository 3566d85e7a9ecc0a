"""The analysis subcommands: ``metaanalysis pool``, ``metaanalysis network`` and
``metaanalysis reconstruct``, each printing the result's summary or, with ``--json``, its
``to_dict()`` (the design's "one subcommand per main analysis, each with --json").

They are for scripted reanalysis outside the review: a file of effect sizes or counts pooled the
way ``rma``/``rma.mh``/``rma.glmm`` would pool it, a network of contrasts or arms, a digitised
Kaplan-Meier curve turned into patient data. The review's own analyses are the report's.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from .errors import InputError, MetaAnalysisError, Problem, StudyTableError

# metafor's argument names; each can be mapped to a column of another name (--ai tpos)
_POOL_COLUMNS = ("yi", "vi", "sei", "ai", "bi", "ci", "di", "n1i", "n2i", "xi", "ni", "x1i", "t1i",
                 "x2i", "t2i")
_LABEL_COLUMNS = ("slab", "study", "study_id", "trial", "label", "author")
_KIND_WORDS = {"effects": "effect sizes", "binary": "two-group counts",
               "proportions": "one-group counts", "incidence": "events over person-time"}
# the method of each input when --method is not given (rma's REML, rma.mh's MH)
_DEFAULT_METHOD = {"effects": "REML", "binary": "MH", "proportions": "REML", "incidence": "MH"}
_POOL_INPUTS = (
    "effect sizes: yi with vi (sampling variances) or sei (standard errors)",
    "two-group counts: ai, ci with n1i, n2i (group sizes) or bi, di (non-events)",
    "one-group counts: xi (events) with ni (group sizes)",
    "events over person-time in two groups: x1i, t1i, x2i, t2i",
)


def _print_json(data) -> None:
    from ._base import jsonable

    print(json.dumps(jsonable(data), indent=2, allow_nan=False))


def _pool_kind(table, col) -> str:
    """Which input the file holds: the first of effect sizes, two-group counts and one-group
    counts whose columns are all there."""
    if table.has(col["yi"]) and (table.has(col["vi"]) or table.has(col["sei"])):
        return "effects"
    if table.has(col["ai"], col["ci"]) and (table.has(col["n1i"], col["n2i"])
                                            or table.has(col["bi"], col["di"])):
        return "binary"
    if table.has(col["xi"], col["ni"]):
        return "proportions"
    if table.has(col["x1i"], col["t1i"], col["x2i"], col["t2i"]):
        return "incidence"
    raise StudyTableError([Problem(
        table.name, 1, None,
        "no columns to pool; give " + "; or ".join(_POOL_INPUTS) + " (metafor's names, or map "
        "yours with --yi, --vi, --ai ...); the header has: " + ", ".join(table.header))])


def cmd_pool(args) -> int:
    from .csv_inputs import read_csv_table

    table = read_csv_table(args.file, what="one row per study: " + "; or ".join(_POOL_INPUTS))
    col = {c: getattr(args, c) or c for c in _POOL_COLUMNS}
    asked = [getattr(args, c) for c in _POOL_COLUMNS + ("slab",) if getattr(args, c)]
    missing = [c for c in asked if c not in table.header]
    if missing:
        raise StudyTableError([Problem(table.name, 1, c, "no such column; the header has: "
                                       + ", ".join(table.header)) for c in missing])
    kind = _pool_kind(table, col)
    slab = args.slab or next((c for c in _LABEL_COLUMNS if c in table.header), None)
    labels = table.texts(slab) if slab else None
    problems: list = []
    options = dict(test=args.test, level=args.level)
    if kind == "effects":
        yi = table.numbers(col["yi"], problems, what="an effect size on the analysis scale")
        if table.has(col["vi"]):
            spread = dict(vi=table.numbers(col["vi"], problems, minimum=0, strict=True,
                                           what="a sampling variance"))
            if table.has(col["sei"]):
                # both given: they must say the same (vi = sei²), or which to pool is a guess
                # vi is pooled: an empty sei cell beside it is no error, only a filled one
                # that disagrees with it
                sei = table.numbers(col["sei"], problems, minimum=0, strict=True, empty_ok=True,
                                    what="a standard error")
                problems += _spread_disagreements(table, col, spread["vi"], sei)
        else:
            spread = dict(sei=table.numbers(col["sei"], problems, minimum=0, strict=True,
                                            what="a standard error"))
        run = lambda **kw: _pool_effects(yi, spread, args, labels, **kw)  # noqa: E731
    elif kind == "binary":
        ai = table.numbers(col["ai"], problems, minimum=0, what="a count of events")
        ci = table.numbers(col["ci"], problems, minimum=0, what="a count of events")
        if table.has(col["n1i"], col["n2i"]):
            n1i = table.numbers(col["n1i"], problems, minimum=0, strict=True, what="a group size")
            n2i = table.numbers(col["n2i"], problems, minimum=0, strict=True, what="a group size")
        else:
            n1i = ai + table.numbers(col["bi"], problems, minimum=0, what="a count of non-events")
            n2i = ci + table.numbers(col["di"], problems, minimum=0, what="a count of non-events")
        _events_within(table, col["ai"], ai, n1i, problems)
        _events_within(table, col["ci"], ci, n2i, problems)
        run = lambda **kw: _pool_binary(ai, n1i, ci, n2i, args, labels, **kw)  # noqa: E731
    elif kind == "proportions":
        xi = table.numbers(col["xi"], problems, minimum=0, what="a count of events")
        ni = table.numbers(col["ni"], problems, minimum=0, strict=True, what="a group size")
        _events_within(table, col["xi"], xi, ni, problems)
        run = lambda **kw: _pool_proportions(xi, ni, args, labels, **kw)  # noqa: E731
    else:
        rates = {c: table.numbers(col[c], problems, minimum=0, strict=c.startswith("t"),
                                  what="person-time" if c.startswith("t") else "a count of events")
                 for c in ("x1i", "t1i", "x2i", "t2i")}
        run = lambda **kw: _pool_incidence(rates, args, labels, **kw)  # noqa: E731
    by = None
    if args.by:
        if args.by not in table.header:
            problems.append(Problem(table.name, 1, args.by, "no such column for --by; the header "
                                    "has: " + ", ".join(table.header)))
        else:
            by = table.texts(args.by)
            for line, g in zip(table.lines(), by):
                if not g:
                    problems.append(Problem(table.name, line, args.by, "is empty; give the "
                                            "study's subgroup"))
    if args.mods:
        import re

        for c in table.header:
            if c and re.search(rf"(?<![\w.]){re.escape(c)}(?![\w.])", args.mods):
                for line, cell in zip(table.lines(), table.texts(c)):
                    if not cell:
                        problems.append(Problem(table.name, line, c, "is empty; a moderator of "
                                                "--mods needs a value for every study"))
    if problems:
        raise StudyTableError(problems)
    if (by is not None or args.mods) and (args.method or "").upper() in _NOT_IV:
        raise InputError(f"--method {args.method}: subgroups and meta-regression weight each "
                         "study by its inverse variance; give a tau^2 estimator (REML, DL, ...) "
                         "or EE")
    extra = {}
    try:
        res = run(**options)
        if by is not None or args.mods:
            yi, vi = _effect_sizes(res)
            if by is not None:
                extra["subgroups"] = _subgroups(yi, vi, by, args, labels)
            if args.mods:
                extra["meta_regression"] = _meta_regression(yi, vi, table, args)
        if args.small_study:
            fit, refit = _iv_fit(res, kind, args)
            if refit:  # said before the tests it concerns
                extra["small_study_fit"] = refit
            extra["small_study"] = _small_study(fit)
            if kind == "binary" and (args.measure or "OR").upper() == "OR":
                # Egger's test is biased for log odds ratios (Cochrane Handbook 13.3.5.3)
                extra["small_study_odds_ratios"] = _small_study_or(ai, n1i, ci, n2i, labels)
    except MetaAnalysisError as exc:
        # the study index of an argument error is the file's data row; say which file
        raise InputError(f"{table.name}: {exc}") from None
    if args.small_study and res.k < 10:
        print(f"{table.name}: warning: {res.k} studies; tests for small-study effects have too "
              "little power to tell chance from asymmetry with fewer than 10 (Cochrane Handbook "
              "13.3.5.4)", file=sys.stderr)
    # effect sizes on a log scale, read back as ratios (metafor's predict(res, transf = exp))
    ratio = None
    if kind == "effects" and (args.measure or "").upper() in _LOG_RATIOS:
        ratio = res.predict(transf="exp")
    if args.json:
        data = {"file": table.name, "input": kind, "result": res.to_dict()}
        if ratio is not None:
            data["ratio"] = ratio.to_dict()
        data.update({k: (v.to_dict() if hasattr(v, "to_dict") else v if isinstance(v, str) else
                         {name: r.to_dict() for name, r in v.items()})
                     for k, v in extra.items()})
        _print_json(data)
    else:
        print(f"{table.name}: {len(table)} studies ({_KIND_WORDS[kind]})")
        print(res.summary())
        if ratio is not None:
            print(f"\n{args.measure.upper()} (exp of the estimate; predict(res, transf = exp)):")
            print(ratio.summary() if hasattr(ratio, "summary") else ratio)
        for key, value in extra.items():
            if isinstance(value, str):
                print(value)
                continue
            print(f"\n--- {key.replace('_', ' ')} ---")
            if hasattr(value, "summary"):
                print(value.summary())
            else:
                for name, r in value.items():
                    print(f"{name}: {r.summary() if hasattr(r, 'summary') else r}")
    return 0


# measures whose effect sizes are log ratios
_LOG_RATIOS = ("HR", "OR", "RR", "IRR", "ROM", "PETO", "MEDLN")

# pooling methods that are not inverse-variance fits of effect sizes
_NOT_IV = ("MH", "PETO", "GLMM")


def _effect_sizes(res):
    """The studies' effect sizes and sampling variances on the analysis scale (what subgroups and
    meta-regression pool): as given, or as the fit computed them from the counts."""
    import numpy as np

    return np.asarray(res.yi, float), np.asarray(res.vi, float)


def _subgroups(yi, vi, groups, args, labels):
    from .pooling import subgroup_analysis

    # (MH, Peto and GLMM were refused above; counts pooled by MH by default go in by REML)
    return subgroup_analysis(yi, vi, groups=groups, method=args.method or "REML",
                             test=args.test, level=args.level, labels=labels,
                             measure=args.measure)


def _meta_regression(yi, vi, table, args):
    import pandas as pd

    from .pooling import meta_regression

    data = {}
    for c in table.header:
        cells = table.texts(c)
        try:
            data[c] = [float(x) if x else float("nan") for x in cells]
        except ValueError:
            data[c] = cells
    return meta_regression(yi, vi, mods=args.mods, data=pd.DataFrame(data),
                           method=args.method or "REML", test=args.test, level=args.level)


def _iv_fit(res, kind, args) -> tuple:
    """The inverse-variance fit the small-study tests refit (they cannot repeat an MH, Peto or
    GLMM fit): the main fit when it is one, else a REML fit of its effect sizes, with a note."""
    method = (args.method or _DEFAULT_METHOD[kind]).upper()
    if method not in _NOT_IV:
        return res, ""
    from .pooling import pool

    yi, vi = _effect_sizes(res)
    fit = pool(yi, vi, method="REML", test=args.test, level=args.level, measure=args.measure)
    return fit, (f"(the small-study tests use a random-effects REML fit of the same effect sizes: "
                 f"they cannot repeat a {method} fit)")


def _small_study(res) -> dict:
    from .pooling import egger_test, rank_test, trim_and_fill

    return {"egger": egger_test(res), "rank": rank_test(res), "trim_and_fill": trim_and_fill(res)}


def _small_study_or(ai, n1i, ci, n2i, labels) -> dict:
    from .pooling import binary_bias_test

    return {test: binary_bias_test(ai, n1i, ci, n2i, test=test, labels=labels)
            for test in ("harbord", "peters")}


# vi and sei given together must agree: vi = sei² to this relative tolerance. Software writes
# both at full precision (metafor's escalc output agrees to ~1e-15); values that differ by more
# were rounded or copied apart, and which of the two is right cannot be told.
VI_SEI_RELATIVE_TOLERANCE = 1e-6


def _spread_disagreements(table, col, vi, sei) -> list:
    """A Problem at the first line where ``vi`` is not ``sei**2`` (to
    :data:`VI_SEI_RELATIVE_TOLERANCE`), naming how many other lines disagree; [] when all agree
    (then vi is pooled). Cells that are not valid numbers were reported already."""
    import numpy as np

    square = sei ** 2
    with np.errstate(invalid="ignore"):
        off = np.flatnonzero(np.isfinite(vi) & np.isfinite(square) & (
            np.abs(vi - square) > VI_SEI_RELATIVE_TOLERANCE * np.maximum(vi, square)))
    if not len(off):
        return []
    lines = table.lines()
    i = off[0]
    more = [str(lines[j]) for j in off[1:]]
    also = ("" if not more else f"; line {more[0]} disagrees too" if len(more) == 1 else
            f"; lines {', '.join(more[:10])}{' ...' if len(more) > 10 else ''} disagree too")
    return [Problem(table.name, lines[i], col["vi"], (
        f"{vi[i]:g} disagrees with {col['sei']} {sei[i]:g}: a sampling variance is the squared "
        f"standard error ({sei[i]:g}² = {square[i]:.6g}), and the two columns must agree to a "
        f"relative {VI_SEI_RELATIVE_TOLERANCE:g}; correct one, or remove the column you do "
        "not trust" + also))]


def _events_within(table, column, events, totals, problems) -> None:
    for line, x, n in zip(table.lines(), events, totals):
        if x == x and n == n and x > n:
            problems.append(Problem(table.name, line, column, f"{x:g} events in a group of "
                                    f"{n:g}; give at most the group size"))


def _pool_effects(yi, spread, args, labels, **options):
    from .pooling import pool

    return pool(yi, **spread, method=args.method or _DEFAULT_METHOD["effects"],
                measure=args.measure, labels=labels, **options)


def _pool_binary(ai, n1i, ci, n2i, args, labels, **options):
    if (args.method or "").upper() == "GLMM":
        from .pooling import rma_glmm

        return rma_glmm(ai, n1i, ci, n2i, measure=args.measure or "OR",
                        model=args.model or "UM.FS", labels=labels, **options)
    from .pooling import pool_binary

    return pool_binary(ai, n1i, ci, n2i, measure=args.measure or "OR",
                       method=args.method or _DEFAULT_METHOD["binary"], labels=labels, **options)


def _pool_incidence(rates, args, labels, **options):
    if (args.method or "").upper() in ("PETO", "GLMM"):
        raise InputError(f"--method {args.method}: events over person-time are pooled by MH or a "
                         "tau^2 estimator (rma.mh, or escalc and rma)")
    from .pooling import pool_incidence

    return pool_incidence(rates["x1i"], rates["t1i"], rates["x2i"], rates["t2i"],
                          measure=args.measure or "IRR",
                          method=args.method or _DEFAULT_METHOD["incidence"], labels=labels,
                          **options)


def _pool_proportions(xi, ni, args, labels, **options):
    from .pooling import pool_proportions

    return pool_proportions(xi, ni, measure=args.measure,
                            method=args.method or _DEFAULT_METHOD["proportions"], labels=labels,
                            **options)


# --------------------------------------------------------------------------------------------
# network

# the columns network_meta reads as numbers (the effect may sit in a column named after the
# measure); any other column (notes, design...) is passed on as text and left alone
_NETWORK_NUMBERS = ("events", "event", "xi", "numerator", "n", "ni", "denominator", "mean", "mi",
                    "sd", "sdi", "yi", "TE", "sei", "seTE", "vi", "ci_low", "ci_high",
                    "ci_level", "n1", "n2", "cov", "value", "estimate",
                    "or", "rr", "rd", "md", "rom", "hr", "irr", "smd", "gen")


def cmd_network(args) -> int:
    import pandas as pd

    from .csv_inputs import read_csv_table
    from .network import network_meta

    table = read_csv_table(
        args.file, what="one row per arm (study, treatment, events, n or mean, sd, n) or per "
        "comparison (study, treat1, treat2, yi with sei or vi, or the ratio with ci_low, ci_high)")
    problems: list = []
    frame = {}
    for c in table.header:
        if c in _NETWORK_NUMBERS or c == args.measure.lower():
            frame[c] = table.numbers(c, problems, empty_ok=True)
        elif c:
            frame[c] = table.texts(c)
    if problems:
        raise StudyTableError(problems)
    try:
        res = network_meta(pd.DataFrame(frame), measure=args.measure, reference=args.reference,
                           method=args.method, level=args.level, small_values=args.small_values)
    except MetaAnalysisError as exc:
        # an error about one row (network.data.RowInputError) names its position in the rows
        # given, which are the file's records in order: name its line and column
        row = getattr(exc, "row", None)
        if row is not None and 0 <= row < len(table):
            raise StudyTableError([Problem(table.name, table.lines()[row],
                                           getattr(exc, "column", None), str(exc))]) from None
        raise InputError(f"{table.name}: {exc}") from None
    if args.json:
        _print_json({"file": table.name, "result": res.to_dict()})
    else:
        print(res.summary())
    return 0


# --------------------------------------------------------------------------------------------
# reconstruct


def _check_ipd_target(out) -> None:
    """Replace only what this command writes: an existing file must be patient data (its first
    line ``time,event``), never a study table or anything else a typo in --out could name."""
    path = Path(out)
    if not (path.exists() or path.is_symlink()):
        return
    if not path.is_file():
        raise InputError(f"--out {out}: is not a file; give a CSV file for the patient data")
    with open(path, "rb") as fh:
        first = fh.readline(64).strip()
    if first != b"time,event":
        raise InputError(f"--out {out}: exists and is not patient data this command wrote (its "
                         "first line is not 'time,event'); give a new file (nothing was written)")


def cmd_reconstruct(args) -> int:
    from .survival import read_curve

    curve = read_curve(args.curve)
    if args.out:
        own = {Path(p).resolve() for p in (curve.path, curve.clicks_path) if p}
        if Path(args.out).resolve() in own:
            raise InputError(f"--out {args.out} is one of the curve's own files; give another "
                             "file for the patient data")
        _check_ipd_target(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = curve.reconstruct(use_total_events=not args.no_total_events)
    for w in caught:
        if issubclass(w.category, UserWarning):
            print(f"{curve.path}: warning: {w.message}", file=sys.stderr)
    if args.out:
        from .fileio import atomic_write

        ipd = rec.ipd
        text = "time,event\n" + "".join(f"{t!r},{int(e)}\n" for t, e in
                                          zip(ipd["time"].tolist(), ipd["event"].tolist()))
        atomic_write(args.out, text.encode("utf-8"))
    if args.json:
        data = {"curve": curve.to_dict(), "reconstruction": rec.to_dict()}
        if args.out:
            data["out"] = str(args.out)
        _print_json(data)
    else:
        who = " ".join(x for x in (curve.study_id, curve.arm, curve.outcome) if x)
        print(f"{curve.path}{f' ({who})' if who else ''}")
        print(rec.summary())
        if args.out:
            print(f"\n{len(rec.ipd)} patients written to {args.out} (time in {curve.time_unit})")
    return 0


# --------------------------------------------------------------------------------------------
# parsers


def add_parsers(sub) -> None:
    """Add ``pool``, ``network`` and ``reconstruct`` to the CLI's subparsers."""
    p = sub.add_parser(
        "pool", help="pool a CSV of effect sizes (yi, vi or sei) or counts (ai, bi/n1i, ci, "
        "di/n2i; or xi, ni; or events over person-time x1i, t1i, x2i, t2i) as metafor's rma, "
        "rma.mh or rma.glmm would")
    p.add_argument("file", help="CSV, one row per study, with a header")
    p.add_argument("--measure", default=None,
                   help="metafor's measure code: for counts the effect to compute (OR, RR, RD; "
                        "PLO, PFT, PR... for one group; IRR, IRD for events over person-time), "
                        "for effect sizes the scale they are on (HR, OR, RR... are "
                        "back-transformed in the summary)")
    p.add_argument("--method", default=None,
                   help="tau^2 estimator (REML, DL, PM, ...; default REML), or MH / PETO for "
                        "two-group counts (default MH), MH for events over person-time "
                        "(default), or GLMM (rma.glmm; see --model)")
    p.add_argument("--model", default=None,
                   help="with --method GLMM and two-group counts, rma.glmm's model: UM.FS "
                        "(default), UM.RS, CM.EL or CM.AL")
    p.add_argument("--test", default="z", help="z (default), t or knha")
    p.add_argument("--level", default=95.0, type=float, help="confidence level, percent")
    for c in _POOL_COLUMNS:
        p.add_argument(f"--{c}", default=None, metavar="COLUMN",
                       help=f"the column holding {c} (default: {c})")
    p.add_argument("--slab", default=None, metavar="COLUMN",
                   help="study labels (default: the first of " + ", ".join(_LABEL_COLUMNS) + ")")
    p.add_argument("--by", default=None, metavar="COLUMN",
                   help="subgroup analysis by this column (a tau^2 per subgroup, the test "
                        "between subgroups), beside the overall fit")
    p.add_argument("--mods", default=None, metavar="FORMULA",
                   help="meta-regression on the file's columns, e.g. '~ ablat + year' or "
                        "'~ log(dose) + C(region)' (columns, arithmetic, C, I, log, exp, sqrt, "
                        "center, scale and splines; no other Python)")
    p.add_argument("--small-study", action="store_true",
                   help="Egger's regression test, the rank correlation test and trim and fill, "
                        "and for odds ratios from two-group counts Harbord's and Peters' tests "
                        "(asked for: the report runs them only with 10 studies or more)")
    p.add_argument("--json", action="store_true", help="print the result's to_dict() as JSON")
    p.set_defaults(func=cmd_pool)

    p = sub.add_parser("network", help="network meta-analysis of a CSV of arms or contrasts "
                       "(netmeta's model)")
    p.add_argument("file", help="CSV with a header: study, treatment, events, n (or mean, sd, n); "
                   "or study, treat1, treat2 and yi with sei or vi (or the ratio with ci_low, "
                   "ci_high)")
    p.add_argument("--measure", default="OR", help="OR (default), RR, RD, MD, ROM; HR, IRR, "
                   "SMD, GEN for contrasts")
    p.add_argument("--reference", default="placebo", help="the treatment others are compared "
                   "with (default placebo)")
    p.add_argument("--method", default="REML", help="REML (default), ML, DL or EE")
    p.add_argument("--level", default=95.0, type=float, help="confidence level, percent")
    p.add_argument("--small-values", default="good", choices=("good", "bad"),
                   help="whether small effects are good (ranking); default good")
    p.add_argument("--json", action="store_true", help="print the result's to_dict() as JSON")
    p.set_defaults(func=cmd_network)

    p = sub.add_parser("reconstruct", help="patient data from a digitised Kaplan-Meier curve "
                       "(Guyot et al. 2012), with its diagnostics")
    p.add_argument("curve", help="the curve: <name>.clicks.csv, <name>.meta.csv or <name> "
                   "(see data/curves/README.md)")
    p.add_argument("--out", default=None, help="write the patient data (time, event) to this CSV")
    p.add_argument("--no-total-events", action="store_true",
                   help="ignore the total number of events in the meta file")
    p.add_argument("--json", action="store_true", help="print the reconstruction's to_dict() "
                   "(with the patient data) as JSON")
    p.set_defaults(func=cmd_reconstruct)
