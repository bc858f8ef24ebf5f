"""Performance kernels for the NumPy backend: the same arithmetic as the lesson's update,
arranged for speed. Nothing here is needed to read the lesson; :mod:`gd_compare.numpy_backend`
calls :func:`blocked_full_batch_step` for a full batch larger than one cache block.
This module never imports torch.
"""

from __future__ import annotations

import numpy as np

from gd_compare.lesson.core import Reduction, batch_divisor

__all__ = ["BLOCK_BYTES", "BlockBuffers", "block_rows", "blocked_del_w", "blocked_full_batch_step"]

#: Rows per block of :func:`blocked_full_batch_step`: about 512 KiB of ``X`` (half of this
#: machine's 1 MiB L2), so both matrix-vector products of a block read it from cache.
BLOCK_BYTES = 1 << 19


def block_rows(n_features: int, itemsize: int) -> int:
    """Rows of one block: :data:`BLOCK_BYTES` of ``X``, at least 256."""
    return max(256, BLOCK_BYTES // (n_features * itemsize))


class BlockBuffers:
    """Scratch space for :func:`blocked_full_batch_step`, allocated once per training run:
    three block-long vectors and the per-block partial sums (so nothing n-long is allocated
    per epoch)."""

    def __init__(self, n: int, d: int, dtype: np.dtype, rows: int | None = None) -> None:
        self.rows = min(n, rows or block_rows(d, np.dtype(dtype).itemsize))
        self.a = np.empty(self.rows, dtype=dtype)
        self.b = np.empty(self.rows, dtype=dtype)
        self.c = np.empty(self.rows, dtype=dtype)
        blocks = -(-n // self.rows)
        self.del_w = np.empty((blocks, d), dtype=dtype)
        self.sq_error = np.empty(blocks, dtype=dtype)
        self.neg_w = np.empty(d, dtype=dtype)


def blocked_full_batch_step(
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    lr: float,
    reduction: Reduction,
    buffers: BlockBuffers,
) -> float:
    """``numpy_backend._gradient_step`` on the full batch, reading ``X`` from memory once.

    The plain form makes two passes over ``X`` (``X @ w``, then ``error_term @ X``) and
    allocates several n-long temporaries. Here the rows are taken in blocks small enough to
    stay in cache: for each block ``Xb`` both products are done while ``Xb`` is still there,
    and every elementwise step writes into preallocated ``buffers``:

    output_b     = 1 / (1 + exp(Xb @ (−w)))         (Xb @ (−w) is exactly −(Xb @ w))
    error_b      = y_b − output_b
    error_term_b = error_b·output_b·(1 − output_b)
    del_w        = Σ_blocks error_term_b @ Xb;   Σ error² likewise
    w           += lr·del_w / m       (m = 1 for SSE)

    Every elementwise value is bit-for-bit the one ``_gradient_step`` computes; only the
    two sums are added in a different order (block partials, then the blocks in order), which
    moves the result by a few ULPs at most. With one block the result is identical.
    """
    del_w, sq_error = blocked_del_w(X, y, weights, buffers)
    m = batch_divisor(reduction, len(y))
    weights += del_w * lr / m
    return float(sq_error / m)


def blocked_del_w(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray, buffers: BlockBuffers
) -> tuple[np.ndarray, float]:
    """The full batch's ``del_w = error_term @ X`` (d,) and Σ error², block by block (see
    :func:`blocked_full_batch_step`); ``weights`` are not changed. ``del_w`` may be a view of
    ``buffers``: use it before the next call."""
    n = len(y)
    rows = buffers.rows
    np.negative(weights, out=buffers.neg_w)
    blocks = 0
    with np.errstate(over="ignore"):  # exp(−h) = inf gives output 0, as sigmoid() does
        for start in range(0, n, rows):
            Xb = X[start:start + rows]
            m = len(Xb)
            output, error, term = buffers.a[:m], buffers.b[:m], buffers.c[:m]
            np.dot(Xb, buffers.neg_w, out=output)  # −h
            np.exp(output, out=output)
            output += 1
            np.divide(1, output, out=output)  # sigmoid(h)
            np.subtract(y[start:start + m], output, out=error)
            buffers.sq_error[blocks] = np.dot(error, error)
            np.multiply(error, output, out=term)
            np.subtract(1, output, out=output)  # 1 − output (output is not needed after this)
            term *= output  # error·output·(1 − output)
            np.dot(term, Xb, out=buffers.del_w[blocks])
            blocks += 1
    del_w = buffers.del_w[0] if blocks == 1 else buffers.del_w[:blocks].sum(axis=0)
    sq_error = buffers.sq_error[0] if blocks == 1 else buffers.sq_error[:blocks].sum()
    return del_w, sq_error
