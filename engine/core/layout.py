"""What crosses between Python and the C lane loop (``native/layout.h``, the C side): the
columns of its outputs and :class:`LaneParams`, the constants of one lane. The extension
exports its own view of these, which :mod:`engine.core.dispatch` compares with them.
"""

from __future__ import annotations

from typing import NamedTuple

# --- outputs ----------------------------------------------------------------------------------
# ints columns: the INT_METRICS in engine.metrics order; sums columns: the MEAN_METRICS sums.
O_TICKS, O_FAULTS, O_HITS, O_MAPPED_PEAK, O_PAGES_PEAK, O_IDLE_PEAK, O_BYTES_PEAK = range(7)
O_ALLOCS, O_FREES, O_WASTED, O_COMPL, O_LEAKED = range(7, 12)
O_COUNT = 12
# Held quantities integrated over time (bytes are derived from pages and descriptors after the
# run, exactly: their integral can pass 2^63). sums columns: the integral of each, as
# lo + hi * 2^31 (lo words, then hi words), then the window's end.
H_MAPPED, H_PAGES, H_IDLE, H_DESCS = range(4)
H_COUNT = 4
S_END = 2 * H_COUNT
S_COUNT = S_END + 1
INT_COLUMNS: dict[str, int] = {
    "ticks": O_TICKS,
    "faults": O_FAULTS,
    "hits": O_HITS,
    "mapped_peak": O_MAPPED_PEAK,
    "pages_peak": O_PAGES_PEAK,
    "idle_pages_peak": O_IDLE_PEAK,
    "bytes_peak": O_BYTES_PEAK,
    "page_allocs": O_ALLOCS,
    "page_frees": O_FREES,
    "wasted_allocs": O_WASTED,
    "completions": O_COMPL,
    "leaked_pages": O_LEAKED,
}
# bytes_mean is derived from H_PAGES and H_DESCS
MEAN_COLUMNS: dict[str, int] = {
    "mapped_mean": H_MAPPED,
    "pages_mean": H_PAGES,
    "idle_pages_mean": H_IDLE,
}

# Initial capacities of a lane's arrays (lane.h): tests grow past them.
INITIAL_UNITS = 64
INITIAL_QUEUE = 64


class LaneParams(NamedTuple):
    """Constants of one lane inside the lane loop, derived from :class:`engine.params.Params`
    by :func:`engine.core.run.lane_constants`: these defaults, overridden by the strategy's
    declaration (``Strategy.lane_constants``).

    grace:      ticks (or us) from queueing a completion to its due time
    f:          F, fragments (tables) per page
    n:          pages per unit (pool_pages for pool, else 1)
    k:          fragments per unit = its capacity (1 for whole-page, F, or N*F for a pool)
    ks:         per-fragment state kept per unit (k for pool / ptdesc-dyn, else 0)
    page_bytes: bytes a held page costs (page_size, plus ptlock_bytes when the page carries a lock)
    desc_bytes: bytes a live descriptor costs (ptdesc-dyn: desc_size + ptlock_bytes, else 0)
    n_aux:      length of the strategy's fixed table (pairs: groups)
    n_slots:    slots of the address space
    """

    grace: int
    f: int
    n: int
    k: int
    ks: int
    page_bytes: int
    desc_bytes: int
    n_aux: int
    n_slots: int


LP_COUNT = len(LaneParams._fields)
