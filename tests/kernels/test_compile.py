"""The array kernels compile on first use, for exactly the types their callers pass.

They are declared with a signature but compiled lazily (``kernels._jit``): a first run compiles
only what it calls. In a fresh interpreter, the library's own paths (margin of a book with
American, inverse and linear rows on the serial and parallel builds; an account's tick; prices,
Greeks, implied vols, American prices from the pricing layer) must leave each kernel they used
with one specialization, the declared one, also when they compile it (an empty cache: kernels
calling kernels with a literal argument would compile the callee twice); ``compile_all`` then
compiles every declared kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json
import numpy as np
from greeksmargin import Book, ScenarioGrid, ShiftType, compute_margin, methodology
from greeksmargin.kernels import _jit, compile_all
from greeksmargin.measures.revalue import revalue
from greeksmargin.pricing import american, greeks, implied_vol, price
from tests.conftest import random_book

for inverse in (False, True):
    book, market = random_book(300, 5, american_share=0.3, inverse=inverse)
    compute_margin(book, market, methodology.occ_tims())
    resolved = book.resolve(market)
    grid = ScenarioGrid.product([-0.1, 0.0, 0.1], [0.0, 0.2], vol_shift_type=ShiftType.RELATIVE)
    revalue(resolved, grid, parallel=True)
    revalue(resolved, grid, parallel=False, keep_positions=True)
    if not inverse:  # the account's tick: the reduction kernels call base_range, pnl_range
        from greeksmargin.accounts.account import Account, Collateral

        state = Account("a", book, Collateral.of({"USD": 1e7}, {"USD": 1.0}),
                        methodology.occ_tims()).evaluate(market)
        state.ticker().tick(market.spot * 1.01)
        # a new order's compiled path (kernels._orders): the legs' read-only columns as they are
        option = int(np.flatnonzero(book.kind != 0)[0])
        import dataclasses

        flat = dataclasses.replace(market, vol=np.full(market.spot.size, 0.3))
        state = Account("a", book, Collateral.of({"USD": 1e7}, {"USD": 1.0}),
                        methodology.occ_tims()).evaluate(flat)
        legs = Book(["n1", "n2"], book.underlying[[option, option]], [1, 2], [100.0, 90.0],
                    book.expiry[[option, option]], [1.0, -1.0], [100.0, 100.0])
        state.prepare_order(legs)  # flat vols: one call (order_prepare)
        from greeksmargin.model.market import VolSurface

        surface = VolSurface([50.0, 150.0], [0.1, 2.0], [[0.3, 0.3], [0.3, 0.3]])
        on_surface = dataclasses.replace(flat, surfaces={str(book.underlying[option]): surface})
        Account("a", book, Collateral.of({"USD": 1e7}, {"USD": 1.0}),
                methodology.occ_tims()).evaluate(on_surface).prepare_order(legs)  # two calls
n = 50_000
s, k, t, v = np.full(n, 100.0), np.linspace(80, 120, n), np.full(n, 0.5), np.full(n, 0.3)
for kind in ("call", "put"):
    market = dict(expiry_years=t, rate=0.03, carry=0.01, kind=kind)
    p = price(s, k, vol=v, **market)
    greeks(s, k, vol=v, **market)
    implied_vol(p, s, k, **market)
    for method in ("alo", "baw"):
        american.price(s[:2000], k[:2000], expiry_years=t[:2000], vol=v[:2000], rate=0.03,
                       dividend_yield=0.02, kind=kind, method=method)
used = {d.py_func.__name__: [str(x) for x in d.signatures] for d, _ in _jit.DECLARED
        if d.signatures}
for d, sig in _jit.DECLARED:  # the declared signature is the one the callers compiled
    if d.signatures:
        d.compile(sig)
after = {d.py_func.__name__: len(d.signatures) for d, _ in _jit.DECLARED if d.signatures}
total = compile_all()
print(json.dumps({"used": used, "after": after, "declared": total,
                  "compiled": sum(1 for d, _ in _jit.DECLARED if d.signatures)}))
"""


def test_kernels_compile_lazily_for_the_declared_types_only(tmp_path):
    import os

    # an empty kernel cache: every kernel compiles here, callees included
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=900, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    used, after = report["used"], report["after"]
    assert {"pnl_range", "pnl_parallel", "base_range", "price_parallel", "order_legs",
            "order_values", "order_prepare"} <= set(used)
    for name, signatures in used.items():
        assert len(signatures) == 1, (name, signatures)
        assert after[name] == 1, name  # compiling the declared signature added nothing
    assert report["compiled"] == report["declared"] >= 16


def test_scatter_rows_moves_each_row_to_its_place_in_place():
    import numpy as np

    from greeksmargin.kernels._revalue import scatter_rows

    rng = np.random.default_rng(2)
    for n, m in ((0, 3), (1, 4), (7, 1), (50, 5), (1000, 3)):
        a = rng.normal(size=(n, m))
        order = rng.permutation(n).astype(np.int64)
        if n > 10:
            order[:5] = np.arange(5)  # fixed points among the cycles
            order[5:] = 5 + rng.permutation(n - 5)
        expected = np.empty_like(a)
        expected[order] = a
        scatter_rows(a, order)
        assert np.array_equal(a, expected)
