"""metaanalysis.distributed: the Dask path gives results identical to the in-process run.

Runs on a small local cluster of two threaded workers (started once for the module, about a second);
one test starts the default cluster (worker processes) to check that path too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip(
    "distributed", reason="the Dask path needs the dask extra: pip install -e '.[dask]' (CI installs it)")
dd = pytest.importorskip("dask.dataframe", reason="the Dask path needs dask[dataframe]")

from metaanalysis import InputError  # noqa: E402
from metaanalysis import distributed as mdist  # noqa: E402
from metaanalysis.distributed import pool_many_dask  # noqa: E402
from metaanalysis.simulate import Scenario, run_simulation  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


def studies(n_groups=60, seed=0, key=str):
    """Groups of unequal k (1 to 7) with ids in scrambled order, rows of a group not adjacent."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 8, size=n_groups)
    ids = np.repeat(rng.permutation(n_groups), sizes)
    df = pd.DataFrame({"analysis_id": [key(i) for i in ids],
                       "yi": rng.normal(0.2, 0.4, len(ids)),
                       "vi": rng.uniform(0.01, 0.2, len(ids))})
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def in_process(df, by="analysis_id", **kw):
    """pool_many on the whole frame in this process."""
    from metaanalysis.pooling.batch import pool_many

    out = pool_many(df, by=by, yi="yi", vi="vi", **kw)
    if by not in out.columns:
        out = out.reset_index() if out.index.name == by else out.rename_axis(by).reset_index()
    return out.sort_values(by, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("method, test", [("DL", "z"), ("REML", "knha")])
def test_pandas_frame_identical_to_in_process(client, method, test):
    df = studies()
    got = pool_many_dask(df, method=method, test=test, client=client, npartitions=5)
    want = in_process(df, method=method, test=test, level=95.0)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.analysis_id.is_unique and len(got) == df.analysis_id.nunique()


def test_dask_dataframe_shuffled_by_group_identical_to_in_process(client):
    df = studies(seed=1, key=int)
    ddf = dd.from_pandas(df, npartitions=4)  # groups straddle these partitions
    got = pool_many_dask(ddf, method="PM", test="knha", level=90, client=client)
    want = in_process(df, method="PM", test="knha", level=90.0)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_dask_dataframe_indexed_by_group_is_used_as_partitioned(client):
    df = studies(seed=2, key=int).sort_values("analysis_id", kind="stable").reset_index(drop=True)
    ddf = dd.from_pandas(df.set_index("analysis_id"), npartitions=3, sort=False)
    ddf = ddf.repartition(divisions=[0, 20, 40, 59])  # known divisions: groups do not straddle
    got = pool_many_dask(ddf, method="DL", client=client)
    pd.testing.assert_frame_equal(got, in_process(df, method="DL", test="z", level=95.0), check_exact=True)


def test_pieces_are_cut_at_group_boundaries():
    df = studies(seed=3).sort_values("analysis_id", kind="stable")
    pieces = mdist._split_at_groups(df, "analysis_id", 7)
    assert 1 < len(pieces) <= 7 and sum(map(len, pieces)) == len(df)
    seen = [set(p.analysis_id) for p in pieces]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1:])


def test_scheduler_address(cluster):
    df = studies(n_groups=8, seed=4)
    got = pool_many_dask(df, method="DL", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(got, in_process(df, method="DL", test="z", level=95.0), check_exact=True)


def test_default_local_cluster_of_worker_processes():
    df = studies(n_groups=6, seed=5)
    got = pool_many_dask(df, method="REML", n_workers=1)  # default: LocalCluster, processes=True
    pd.testing.assert_frame_equal(got, in_process(df, method="REML", test="z", level=95.0), check_exact=True)


def test_simulation_on_dask_identical_to_in_process(client, tmp_path):
    scen = [Scenario(k=3, tau2=0.1), Scenario(k=5, model="binomial", p0=0.05, n=(30,), tau2=0.2),
            Scenario(k=2), Scenario(k=4, vi_dist="uniform", vi=(0.01, 0.3), tau2=0.05)]
    methods = ["DL+z", "REML+knha", "PM+knha"]
    local = run_simulation(scen, methods, n_rep=120, seed=7, progress=False)
    remote = run_simulation(scen, methods, n_rep=120, seed=7, progress=False, client=client)
    pd.testing.assert_frame_equal(remote.to_frame(), local.to_frame(), check_exact=True)
    # with a checkpoint, scenarios arriving in any order are stored and the table is the same
    path = tmp_path / "dask.parquet"
    with_ckpt = run_simulation(scen, methods, n_rep=120, seed=7, progress=False, client=client,
                               checkpoint=path)
    pd.testing.assert_frame_equal(with_ckpt.to_frame(), local.to_frame(), check_exact=True)
    assert path.exists()


def test_errors(client):
    df = studies(n_groups=3)
    with pytest.raises(InputError, match="no column"):
        pool_many_dask(df, by="study", client=client)
    with pytest.raises(InputError, match="pandas or Dask"):
        pool_many_dask(df.to_dict("list"), client=client)
    with pytest.raises(InputError, match="not both"):
        pool_many_dask(df, client=client, scheduler="tcp://127.0.0.1:1")
