"""The Dask path: many meta-analyses, or the scenarios of a simulation study, beyond one process.

:func:`pool_many_dask` pools every group of a (Dask or pandas) DataFrame partition by partition
through the vectorised batch kernel (:func:`metaanalysis.pooling.batch.pool_many`; a loop over
:func:`metaanalysis.pool` where that kernel is not installed). Groups never straddle partitions: a
pandas frame is split at group boundaries, a Dask DataFrame is shuffled by group unless it is already
indexed by the group column with known divisions. Within a group the studies keep their original
order, so every group is pooled from the same numbers in the same order as in-process and the results
are identical to ``pool_many(frame)``.

:func:`metaanalysis.simulate.run_simulation` with ``client=`` sends each scenario to a worker as one
task (a scenario's replicates are drawn from its own seed, so where it runs does not matter).

When to reach for it: a single machine pools 10^5 meta-analyses in seconds with ``pool_many``; Dask
pays off when the input does not fit in memory (a Dask DataFrame read from many Parquet files), when
a cluster with more cores than this machine is at hand, or for simulation studies of many scenarios
where each scenario takes seconds. For small jobs the cluster start-up (one to a few seconds) costs
more than it saves.

Clusters: by default a ``distributed.LocalCluster`` with one single-threaded worker per core of this
machine (closed again when the call returns); ``scheduler="tcp://host:8786"`` connects to a running
cluster; ``client=`` uses a ``distributed.Client`` you manage. Needs the ``dask`` extra:
``pip install 'metaanalysis[dask]'``.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from ._base import check_level
from .errors import ConvergenceError, InputError

__all__ = ["pool_many_dask", "dask_client", "map_scenarios", "local_cores"]

_POS = "_metaanalysis_pos"


def _require_dask():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise InputError("the Dask path needs dask and distributed: pip install 'metaanalysis[dask]'") from None


def local_cores() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def dask_client(client=None, scheduler: str | None = None, *, n_workers: int | None = None,
                processes: bool = True):
    """A ``distributed.Client`` for the length of a ``with`` block.

    ``client`` is used as it is (and left open); ``scheduler`` (an address such as
    ``"tcp://10.0.0.5:8786"``) is connected to; otherwise a local cluster of ``n_workers``
    single-threaded workers (default: this machine's cores) is started. What this function opened,
    it closes.
    """
    _require_dask()
    from distributed import Client, LocalCluster

    if client is not None and scheduler is not None:
        raise InputError("give client= or scheduler=, not both")
    if client is not None:
        if isinstance(client, str):
            scheduler, client = (None if client == "local" else client), None
        else:
            yield client
            return
    if scheduler is not None:
        c = Client(scheduler)
        try:
            yield c
        finally:
            c.close()
        return
    n = local_cores() if n_workers is None else int(n_workers)
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0") as cluster:
        with Client(cluster) as c:
            yield c


def map_scenarios(fn, tasks, client):
    """Run ``fn(*args)`` for each ``(index, args)`` of ``tasks`` on Dask; yield ``(index, result)``.

    Results are yielded as they complete (the caller orders them). ``client`` is a
    ``distributed.Client``, a scheduler address or ``"local"``.
    """
    from distributed import as_completed

    tasks = list(tasks)
    if not tasks:
        return
    with dask_client(client) as c:
        futures = {}
        for index, args in tasks:
            futures[c.submit(fn, *args, pure=False)] = index
        try:
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        finally:
            c.cancel([f for f in futures if not f.done()])


# --------------------------------------------------------------------------------------------
# pool_many on partitions
# --------------------------------------------------------------------------------------------


def _kernel():
    try:
        from .pooling.batch import pool_many
    except ImportError:
        return None
    return pool_many


def _pool_loop(frame, by, yi, vi, method, test, level, **kwargs):
    """Fallback kernel: ``pool`` group by group (the columns of ``pool(...).to_frame()``)."""
    import pandas as pd

    from .pooling import pool

    rows = []
    for key, g in frame.groupby(by, sort=True):
        try:
            r = pool(g[yi].to_numpy(float), g[vi].to_numpy(float), method=method, test=test,
                     level=level, **kwargs).to_frame().iloc[0].to_dict()
        except ConvergenceError:
            r = {"converged": False}
        rows.append({by: key, **r})
    return pd.DataFrame(rows)


def _pool_frame(frame, by, yi, vi, method, test, level, kwargs):
    """Pool one partition (groups whole, rows in their original order within groups)."""
    pool_many = _kernel()
    if pool_many is None:
        res = _pool_loop(frame, by, yi, vi, method, test, level, **kwargs)
    else:
        res = pool_many(frame, by=by, yi=yi, vi=vi, method=method, test=test, level=level, **kwargs)
    if by not in res.columns:
        if res.index.name == by:
            res = res.reset_index()
        else:
            res = res.copy()
            res.insert(0, by, res.index.to_numpy())
    return res.reset_index(drop=True)


def _pool_partition(part, by, yi, vi, method, test, level, kwargs):
    """The task each partition runs: restore the original order, then pool."""
    if _POS in part.columns:
        part = part.sort_values([by, _POS], kind="stable")
    elif part.index.name == by:
        part = part.reset_index()
    part = part[[by, yi, vi]]
    if len(part) == 0:
        return None
    return _pool_frame(part, by, yi, vi, method, test, level, kwargs)


def _split_at_groups(frame, by, n_parts):
    """Contiguous pieces of a frame sorted by ``by``, cut only at group boundaries, of similar size."""
    keys = frame[by].to_numpy()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    n_parts = max(1, min(int(n_parts), len(starts)))
    targets = np.linspace(0, len(frame), n_parts + 1)[1:-1]
    cuts = starts[np.clip(np.searchsorted(starts, targets), 0, len(starts) - 1)]
    bounds = np.unique(np.r_[0, cuts, len(frame)])
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _add_position(part, partition_info=None, offsets=None):
    number = 0 if partition_info is None else partition_info["number"]
    part = part.copy()
    part[_POS] = np.arange(len(part), dtype=np.int64) + int(offsets[number])
    return part


def pool_many_dask(
    data,
    by: str = "analysis_id",
    yi: str = "yi",
    vi: str = "vi",
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    *,
    client=None,
    scheduler: str | None = None,
    npartitions: int | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    **kwargs,
):
    """``pool_many`` over a Dask (or pandas) DataFrame, partition by partition, on a Dask cluster.

    Parameters
    ----------
    data : dask.dataframe.DataFrame or pandas.DataFrame
        One row per study, with the group column ``by`` and the columns ``yi`` and ``vi``. A Dask
        DataFrame indexed by ``by`` with known divisions (``ddf.set_index(by)``) is used as
        partitioned; any other is shuffled by ``by``. A pandas frame is cut into ``npartitions``
        pieces at group boundaries.
    by, yi, vi, method, test, level
        As :func:`metaanalysis.pooling.batch.pool_many`; further keyword arguments are passed to it.
    client : distributed.Client or str, optional
        A client to use (left open), a scheduler address, or ``"local"``.
    scheduler : str, optional
        Address of a running scheduler (``"tcp://host:8786"``).
    npartitions : int, optional
        Pieces of a pandas frame (default: two per worker); for a Dask DataFrame that is shuffled,
        the number of output partitions (default: as many as it has).
    n_workers, processes
        For the default local cluster: the number of workers (default: this machine's cores) and
        whether they are processes (True) or threads (False).

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``, with the columns of ``pool_many``; identical to
        ``pool_many`` on the whole frame in this process.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"analysis_id": [1, 1, 1, 2, 2], "yi": [0.1, 0.3, 0.2, -0.1, 0.4],
    ...                    "vi": [0.01, 0.02, 0.015, 0.03, 0.02]})
    >>> out = pool_many_dask(df, method="DL", processes=False, n_workers=1)  # doctest: +SKIP
    """
    _require_dask()
    import pandas as pd
    import dask.dataframe as dd

    level = check_level(level)
    if not isinstance(data, (pd.DataFrame, dd.DataFrame)):
        raise InputError(f"data must be a pandas or Dask DataFrame; got {type(data).__name__}")
    for name in (by, yi, vi):
        if name not in data.columns and not (name == by and getattr(data.index, "name", None) == by):
            raise InputError(f"data has no column {name!r}; columns: {', '.join(map(str, data.columns))}")

    with dask_client(client, scheduler, n_workers=n_workers, processes=processes) as c:
        if isinstance(data, pd.DataFrame):
            frame = data.reset_index() if by not in data.columns else data
            frame = frame[[by, yi, vi]].sort_values(by, kind="stable")
            n_parts = npartitions or 2 * max(1, len(c.scheduler_info().get("workers", {})) or 1)
            pieces = _split_at_groups(frame, by, n_parts)
            # Random keys, not content hashes: a second call on the same frame would otherwise
            # reuse the keys the first call's futures are still releasing on the scheduler, which
            # then cancels the new tasks for "lost dependencies".
            scattered = c.scatter(pieces, hash=False)
            futures = c.map(_pool_partition, scattered, by=by, yi=yi, vi=vi, method=method, test=test,
                            level=level, kwargs=kwargs, pure=False)
            results = c.gather(futures)
        else:
            ddf = data
            indexed = by not in ddf.columns and ddf.index.name == by and ddf.known_divisions
            if not indexed:
                if by not in ddf.columns:
                    ddf = ddf.reset_index()
                ddf = ddf[[by, yi, vi]]
                lengths = c.compute(ddf.map_partitions(len)).result()
                offsets = np.r_[0, np.cumsum(np.asarray(lengths, dtype=np.int64))]
                meta_pos = ddf._meta.assign(**{_POS: np.array([], dtype=np.int64)})
                ddf = ddf.map_partitions(_add_position, offsets=offsets, meta=meta_pos)
                ddf = ddf.shuffle(on=by, npartitions=npartitions or ddf.npartitions)
            else:
                ddf = ddf[[yi, vi]]
            parts = ddf.to_delayed()
            import dask

            tasks = [dask.delayed(_pool_partition)(p, by, yi, vi, method, test, level, kwargs) for p in parts]
            results = c.compute(tasks, sync=True)
    results = [r for r in results if r is not None]
    if not results:
        raise InputError("data has no rows to pool")
    out = pd.concat(results, ignore_index=True)
    return out.sort_values(by, kind="stable").reset_index(drop=True)
