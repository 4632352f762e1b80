"""Boundary checks of the pricing API: broadcast, convert, and name the first offending value."""

from __future__ import annotations

import warnings

import numpy as np

from ..enums import OptionKind
from ..errors import InputError, MissingInputWarning
from ..kernels._bsm import MAX_VOL, market_row_is_valid
from ..kernels._jit import parallel_allowed, scalar_jit

# Above this many rows the parallel build of a kernel is used.
PARALLEL_THRESHOLD = 20_000


def use_parallel(n: int) -> bool:
    """Whether ``n`` rows are worth the thread start-up of the parallel kernels (never after a fork)."""
    return n >= PARALLEL_THRESHOLD and parallel_allowed()


def _where(index: int, shape: tuple[int, ...]) -> str:
    if len(shape) <= 1:
        return f"index {index}"
    return f"index {np.unravel_index(index, shape)}"


def fail(name: str, constraint: str, values: np.ndarray, bad: np.ndarray,
         shape: tuple[int, ...], hint: str = "") -> None:
    """Raise :class:`InputError` naming the first bad element of ``values`` (flat) and the count."""
    first = int(np.flatnonzero(bad)[0])
    count = int(np.count_nonzero(bad))
    where = _where(first, shape) if values.size > 1 else "scalar input"
    more = f" ({count} of {values.size} values invalid)" if values.size > 1 else ""
    raise InputError(
        f"{name} must be {constraint}; got {values[first].item()!r} at {where}{more}{hint}"
    )


def check(name: str, values: np.ndarray, ok: np.ndarray, constraint: str,
          shape: tuple[int, ...], hint: str = "") -> None:
    """Raise unless ``ok`` holds everywhere (``ok`` is computed so that NaN fails it)."""
    if not np.all(ok):
        fail(name, constraint, values, ~ok, shape, hint)


def to_float(name: str, value: object) -> np.ndarray:
    """``value`` as a float64 array, with an :class:`InputError` naming ``name`` if it is not numeric."""
    if isinstance(value, str):
        raise InputError(f"{name} must be numeric; got the string {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric; got {value!r}") from exc
    return arr


def to_kind(value: object) -> np.ndarray:
    """Convert ``kind`` to an int8 array of codes.

    ``kind`` as an int8 array of codes (int8 input as it is, no copy); text (``"c"``, ``"p"``,
    ``"call"``, ``"put"``, any case, as py_vollib users write it) is mapped as a whole array; codes
    int8 cannot hold are named here (a cast would wrap 257 to CALL).
    """
    arr = np.asarray(value)
    if arr.dtype.kind in "USO":
        return _kind_from_text(arr)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"kind must be integer codes CALL=1 or PUT=2; got {value!r}")
    if arr.dtype == np.int8:
        return arr
    flat = arr.reshape(-1)
    check("kind", flat, (flat >= -128) & (flat <= 127), "OptionKind.CALL (1) or OptionKind.PUT"
          " (2)", arr.shape)
    return arr.astype(np.int8)


_CALLS = ("c", "call")
_PUTS = ("p", "put")


def _kind_from_text(arr: np.ndarray) -> np.ndarray:
    # vectorised: lower-cased, stripped text against the spellings; anything else is named
    if arr.dtype.kind == "O" and not all(isinstance(x, str | OptionKind | int | np.integer)
                                         for x in arr.reshape(-1)):
        bad = next(x for x in arr.reshape(-1) if not isinstance(x, str | OptionKind | int))
        raise InputError(f"kind must be 'call'/'c', 'put'/'p' or codes 1/2; got {bad!r}")
    text = np.char.lower(np.char.strip(arr.astype(str)))
    is_call = np.isin(text, _CALLS + ("1",))
    is_put = np.isin(text, _PUTS + ("2",))
    flat = text.reshape(-1)
    check("kind", flat, (is_call | is_put).reshape(-1), "'call'/'c' or 'put'/'p' (any case)",
          arr.shape)
    return np.where(is_call, np.int8(OptionKind.CALL), np.int8(OptionKind.PUT)).astype(np.int8)


def broadcast(named: dict[str, np.ndarray]) -> tuple[tuple[int, ...], dict[str, np.ndarray]]:
    """Broadcast the arrays together; flatten each to a C-contiguous 1-D array."""
    try:
        arrays = np.broadcast_arrays(*named.values())
    except ValueError as exc:
        shapes = ", ".join(f"{k}{np.shape(v)}" for k, v in named.items())
        raise InputError(f"inputs do not broadcast together: {shapes}") from exc
    shape = arrays[0].shape
    flat = {}
    for key, arr in zip(named, arrays, strict=True):
        dtype = np.int8 if key == "kind" else np.float64
        original = named[key]
        if (original.shape == shape and original.dtype == dtype and original.flags.c_contiguous
                and original.flags.writeable):
            flat[key] = original.reshape(-1)  # a view: the kernels only read their inputs
            continue
        # otherwise a writeable C-contiguous copy: the kernels are compiled for plain arrays,
        # and broadcast views are read-only
        out = np.empty(arr.size, dtype=dtype)
        out[...] = arr.reshape(-1)
        flat[key] = out
    return shape, flat


def check_kind(kind: np.ndarray, shape: tuple[int, ...]) -> None:
    """Only calls and puts are priced by the option kernels."""
    ok = (kind == OptionKind.CALL) | (kind == OptionKind.PUT)
    check("kind", kind, ok, "OptionKind.CALL (1) or OptionKind.PUT (2)", shape)


@scalar_jit
def _market_is_valid(spot, strike, expiry_years, vol, rate, carry, kind):  # type: ignore[no-untyped-def]
    # every check of check_market in one compiled pass (branch-free: the loop vectorises); False
    # if anything fails, and check_market then finds and names it with NumPy. The price and
    # Greeks kernels make the same check while they price (no second pass over the inputs)
    n_invalid = 0
    for i in range(spot.size):
        valid = market_row_is_valid(spot[i], strike[i], expiry_years[i], vol[i], rate[i],
                                    carry[i], kind[i])
        n_invalid += 0 if valid else 1
    return n_invalid == 0


def check_market(flat: dict[str, np.ndarray], shape: tuple[int, ...],
                 spot_name: str = "spot") -> None:
    """Run the common checks: positive finite spot and strike, expiry >= 0, vol in [0, 5], finite rates."""
    if "vol" in flat and _market_is_valid(flat["spot"], flat["strike"], flat["expiry_years"],
                                          flat["vol"], flat["rate"], flat["carry"],
                                          flat["kind"]):
        return
    # NaN is a missing value: its row's outputs are NaN (the kernels give that), counted in a
    # warning; anything else out of the domain (inf, negative, a percentage vol) is an error
    missing = np.zeros(flat["kind"].size, bool)
    names = []
    for n in ("spot", "strike", "expiry_years", "vol", "rate", "carry"):
        if n in flat and np.isnan(flat[n]).any():
            missing |= np.isnan(flat[n])
            names.append(spot_name if n == "spot" else n)
    # each field's own NaN is excused (a missing value), nothing else in its row
    spot = flat["spot"]
    check(spot_name, spot, (spot > 0) & np.isfinite(spot) | np.isnan(spot), "> 0 and finite",
          shape)
    strike = flat["strike"]
    check("strike", strike, (strike > 0) & np.isfinite(strike) | np.isnan(strike),
          "> 0 and finite", shape)
    t = flat["expiry_years"]
    check("expiry_years", t, (t >= 0) & np.isfinite(t) | np.isnan(t),
          ">= 0 and finite (years, ACT/365)", shape,
          hint="; an option past expiry is an input error")
    if "vol" in flat:
        vol = flat["vol"]
        check("vol", vol, (vol >= 0) & np.isfinite(vol) | np.isnan(vol), ">= 0 and finite", shape)
        check("vol", vol, (vol <= MAX_VOL) | np.isnan(vol), f"<= {MAX_VOL} (annualised decimal)",
              shape, hint="; this looks like a percentage: pass 0.25 for 25%")
    for name in ("rate", "carry"):
        values = flat[name]
        check(name, values, np.isfinite(values) | np.isnan(values),
              "finite (continuously compounded decimal)", shape)
    check_kind(flat["kind"], shape)
    n_missing = int(np.count_nonzero(missing))
    if n_missing:
        warnings.warn(f"{n_missing} of {missing.size} rows have NaN inputs ({', '.join(names)});"
                      " their outputs are NaN", MissingInputWarning, stacklevel=4)
