"""The off-diagonal (canary, class) cells of an (N, K) table, a block of canaries at a time.

At 10^6 canaries every float64 table of log-odds is 80 MB, and a statistic over them needs the
whole table only for its quantiles and medians: one buffer of the cells' values serves those,
and everything else is computed a block of rows at a time from the float32 log-probabilities.
Each block gives its cells in row-major order, so a buffer filled block by block holds exactly
`table[off]`, value for value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

BLOCK_ROWS = 1 << 15  # canaries per block: 32,768 x K float64, a few MB


@dataclass(frozen=True)
class Block:
    """A block of canaries: their rows, their part of the mask, and their cells' positions in a
    buffer of every cell's value."""

    rows: slice
    off: np.ndarray
    cells: slice


Values = Callable[[Block], np.ndarray]  # a block's cells' values, in cell order (float64)


def row_blocks(n: int) -> list[slice]:
    """Consecutive blocks of `BLOCK_ROWS` canaries covering n."""
    return [slice(s, min(s + BLOCK_ROWS, n)) for s in range(0, n, BLOCK_ROWS)]


def off_diagonal(y: np.ndarray, k: int) -> np.ndarray:
    """(N, K) mask of every class but the canary's true one."""
    mask = np.ones((y.size, k), dtype=bool)
    mask[np.arange(y.size), y] = False
    return mask


def table_values(table: np.ndarray) -> Values:
    """The cells of an (N, K) table held whole."""
    return lambda b: table[b.rows][b.off]


class Cells:
    """The cells an (N, K) mask marks, in row-major order (the order of `table[off]`): `off`,
    or with `y` every class but each canary's true one (`off_diagonal(y, k)`, made a block at
    a time: the whole mask is never held)."""

    def __init__(
        self, off: np.ndarray | None = None, *, y: np.ndarray | None = None, k: int = 0
    ) -> None:
        if off is not None:
            held = off
            self._mask: Callable[[slice], np.ndarray] = lambda sl: held[sl]
            slices = row_blocks(off.shape[0])
            counts = [int(np.count_nonzero(off[sl])) for sl in slices]
        elif y is not None:
            truth = y
            self._mask = lambda sl: off_diagonal(truth[sl], k)
            slices = row_blocks(y.size)
            counts = [(sl.stop - sl.start) * (k - 1) for sl in slices]
        else:
            raise ValueError("Cells needs a mask or the true classes")
        starts = np.zeros(len(slices) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        self.size = int(starts[-1])
        self._slices = [
            (sl, slice(int(starts[i]), int(starts[i + 1]))) for i, sl in enumerate(slices)
        ]

    def blocks(self) -> Iterator[Block]:
        return (Block(sl, self._mask(sl), cells) for sl, cells in self._slices)

    def gather(self, values: Values, out: np.ndarray) -> np.ndarray:
        """Every cell's value (`table[off]`) into the first `size` values of `out`."""
        view = out[: self.size]
        for b in self.blocks():
            view[b.cells] = values(b)
        return view

    def bands(self, values: Values, edges: np.ndarray) -> np.ndarray:
        """Per cell, `searchsorted(edges, value, side="right")` (int8: under 128 bands)."""
        out = np.empty(self.size, dtype=np.int8)
        # For sorted edges that is the count of edges at or below the value: a few vector
        # comparisons, four times faster than a binary search per cell.
        counted = bool(np.all(edges[1:] >= edges[:-1]))
        for b in self.blocks():
            v = values(b)
            if not counted or np.isnan(v).any():  # NaN sorts after every edge
                out[b.cells] = np.searchsorted(edges, v, side="right")
                continue
            band, at_or_above = out[b.cells], np.empty(v.size, dtype=bool)
            band[:] = 0
            for edge in edges:
                np.greater_equal(v, edge, out=at_or_above)
                band += at_or_above
        return out

    def grouped(
        self, values: Values, band: np.ndarray, n_bands: int, out: np.ndarray
    ) -> np.ndarray:
        """`out` filled with the cells' values grouped by `band` (one per cell), each band's
        values in cell order, as `table[off][band == j]` gives them; the bands' start offsets
        (n_bands + 1) are returned."""
        # counted a block at a time: a bincount of every cell's band would first widen the
        # bands to 64-bit integers, eight times the bands' own size
        sizes_of = [np.bincount(band[b.cells], minlength=n_bands) for b in self.blocks()]
        starts = np.zeros(n_bands + 1, dtype=np.int64)
        np.cumsum(np.sum(sizes_of, axis=0, dtype=np.int64), out=starts[1:])
        fill = starts[:-1].copy()
        for b, sizes in zip(self.blocks(), sizes_of):
            in_band = band[b.cells]
            order = np.argsort(in_band, kind="stable")  # a radix sort: small integers
            block = values(b)[order]
            at = 0
            for j in np.flatnonzero(sizes):
                size = int(sizes[j])
                out[fill[j] : fill[j] + size] = block[at : at + size]
                fill[j] += size
                at += size
        return starts
