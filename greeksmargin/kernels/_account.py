"""Pre-trade what-if on a cached account: the margin reduction of ``margin.requirements`` for
one order, in one compiled call (no allocation beyond the kernel's locals).

Shapes: ``values``, ``order``, ``weights`` (n_groups, n_scenarios); per-group arrays
(n_groups,). Rules: ``contract_minimum`` and ``short_option_minimum`` per contract, ``roll`` per
group (0 where none). Returns ``(initial, maintenance)`` in the quote currency.
"""

from __future__ import annotations

from ._jit import scalar_jit


@scalar_jit
def whatif_margins(values, order, scale, weights, to_quote, option_contracts,  # type: ignore[no-untyped-def]
                   short_quantity, linear_notional, order_option, order_short, order_linear,
                   contract_minimum, short_option_minimum, roll, mm_factor, im_over_mm):
    """Initial and maintenance margin of the cached account plus ``scale`` x the order."""
    n_groups, n_scenarios = values.shape
    size = abs(scale)
    total = 0.0
    for g in range(n_groups):
        worst = 0.0
        for j in range(n_scenarios):
            loss = -weights[g, j] * (values[g, j] + scale * order[g, j])
            if loss > worst:
                worst = loss
        requirement = worst
        if contract_minimum > 0.0:
            minimum = contract_minimum * (option_contracts[g] + size * order_option[g])
            if minimum > requirement:
                requirement = minimum
        if short_option_minimum > 0.0:
            som = short_option_minimum * (short_quantity[g] + size * order_short[g])
            if som > requirement:
                requirement = som
        requirement += roll[g] * (linear_notional[g] + size * order_linear[g])
        total += requirement * to_quote[g]
    maintenance = total * mm_factor
    initial = im_over_mm * maintenance if im_over_mm > 0.0 else total
    return initial, maintenance
