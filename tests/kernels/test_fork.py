"""Forked worker processes: after the parent has used the parallel kernels (Numba's OpenMP
threads started), a multiprocessing pool started by fork runs the pricing and margin API to the
same numbers (the children use the serial kernels), and Dask's process scheduler forked the same
way margins accounts; each with a timeout, so a hang fails instead of blocking the suite."""

from __future__ import annotations

import multiprocessing as mp
import sys

import numpy as np
import pytest

from greeksmargin import compute_margin, methodology
from greeksmargin.kernels._jit import parallel_allowed
from greeksmargin.pricing import american, greeks, price
from tests.conftest import random_book

N = 50_000  # above the pricing API's parallel threshold


def _prices(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(50, 150, N)
    return price(spot, 100.0, expiry_years=0.5, vol=0.3, rate=0.02, kind=1)


def _child(seed: int) -> tuple[bool, np.ndarray, float, float, float]:
    book, market = random_book(3_000, seed, american_share=0.01)
    total = float(compute_margin(book, market, methodology.occ_tims({"U0": "equity"})).total)
    g = greeks(np.full(N, 100.0), 100.0, expiry_years=1.0, vol=0.2, rate=0.0, kind=2)
    a = american.price(np.full(100, 100.0), 100.0, expiry_years=1.0, vol=0.2, rate=0.05, kind=2,
                       method="alo")
    return parallel_allowed(), _prices(seed), total, float(g.delta.sum()), float(a.sum())


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method is Linux's")
def test_a_forked_pool_prices_and_margins_after_the_parent_ran_parallel_kernels():
    parent = [_child(seed) for seed in (1, 2)]  # parallel kernels in the parent first
    assert parallel_allowed()
    with mp.get_context("fork").Pool(2) as pool:
        result = pool.map_async(_child, (1, 2))
        children = result.get(timeout=300)  # a hang fails here instead of blocking
    for (allowed, prices, total, delta, amer), (_, p0, t0, d0, a0) in zip(children, parent,
                                                                         strict=True):
        assert not allowed  # the child runs the serial kernels ...
        assert np.array_equal(prices, p0)  # ... to the same numbers, bit for bit
        assert total == t0 and delta == d0 and amer == a0


def test_dask_process_scheduler_with_fork_margins_accounts():
    import dask
    import dask.dataframe as dd

    from greeksmargin.front.batch import margin_accounts, margin_batch
    from greeksmargin.io.markets import read_market
    from greeksmargin.io.synthetic import generate_accounts

    positions, market_frame = generate_accounts(60, seed=9)
    market = read_market(market_frame)
    method = methodology.span(0.07)
    expected = margin_accounts(positions, market, method)
    _prices(0)  # the parent's OpenMP threads have started
    ddf = dd.from_pandas(positions, npartitions=3, sort=False)
    with dask.config.set({"multiprocessing.context": "fork"}):
        out = margin_batch(ddf, market, method, scheduler="processes")
    assert out["account"].tolist() == expected["account"].tolist()
    assert np.allclose(out["initial_margin"], expected["initial_margin"], rtol=1e-12)
