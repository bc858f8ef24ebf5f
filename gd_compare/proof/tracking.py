"""Tracking the differences of two step streams: ULP distances, the first :class:`Mismatch`,
the running maxima (:class:`_Tracker`), and the block-at-a-time check of the lockstep
comparison (:class:`_StepBuffer`). Used by :mod:`gd_compare.proof.harness`; nothing here runs a
backend."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gd_compare.lesson.concepts import check_dtype
from gd_compare.lesson.core import Step, layer_name
from gd_compare.proof.verdict import update_rows

__all__ = [
    "Judge",
    "Mismatch",
    "param_labels",
    "param_names",
    "ulp_distance",
]


def ulp_distance(a: Any, b: Any, dtype: np.dtype | str = "float64") -> np.ndarray:
    """How many representable ``dtype`` numbers lie between a and b (elementwise, uint64).

    Floats are mapped to integers in value order (the sign-magnitude bit pattern turned into
    two's complement), so the distance is the difference of the integers; +0 and −0 are 0 apart.
    """
    dt = check_dtype(dtype)
    ints = np.int64 if dt.itemsize == 8 else np.int32
    mask = np.iinfo(ints).max
    out = []
    for v in (a, b):
        bits = np.asarray(v, dtype=dt).view(ints).astype(np.int64)
        mag = (bits & mask).astype(np.uint64)
        out.append((bits < 0, mag))
    (neg_a, mag_a), (neg_b, mag_b) = out
    same = neg_a == neg_b
    return np.where(same, np.maximum(mag_a, mag_b) - np.minimum(mag_a, mag_b), mag_a + mag_b)


@dataclass(frozen=True)
class Mismatch:
    """The first place the two backends disagree beyond the tolerance. ``labels`` name the two
    backends (their modules); ``note`` says what re-judging the step found (see
    :mod:`gd_compare.proof.verdict`); a ``message`` replaces the numbers (a wrong dtype)."""

    concept: str
    step: int
    quantity: str
    index: tuple[int, ...]
    numpy_value: float
    torch_value: float
    abs_diff: float
    ulps: int
    rtol: float
    atol: float
    labels: tuple[str, str] = ("numpy", "torch")
    note: str = ""
    message: str = ""

    def __str__(self) -> str:
        if self.message:
            return f"{self.concept}: step {self.step}: {self.message}"
        where = self.quantity + ("[" + ", ".join(map(str, self.index)) + "]" if self.index else "")
        a, b = self.labels
        text = (
            f"{self.concept}: step {self.step}, {where}: {a}={self.numpy_value!r} "
            f"{b}={self.torch_value!r} |Δ|={self.abs_diff:.3g} ({self.ulps} ULPs) exceeds "
        )
        if self.quantity.startswith("update"):
            text += (f"rtol={self.rtol:g}·max|Δw| + 2 ULPs of w (the update w_after − w_before "
                     f"of this step)")
        else:
            text += f"atol={self.atol:g} + rtol={self.rtol:g}·max(|{a}|, |{b}|)"
        return text + (f"; {self.note}" if self.note else "")


class _Tracker:
    """Running maxima of |Δ|, relative |Δ| and ULPs per quantity, and the first mismatch."""

    def __init__(self, concept: str, dtype: np.dtype, rtol: float, atol: float,
                 labels: tuple[str, str] = ("numpy", "torch")) -> None:
        self.concept, self.dtype, self.rtol, self.atol = concept, dtype, rtol, atol
        self.labels = labels
        self.max_abs: dict[str, float] = {}
        self.max_rel: dict[str, float] = {}
        self.max_ulps: dict[str, int] = {}
        self.first: Mismatch | None = None

    def check(self, quantity: str, step: int, a: Any, b: Any, prefix: tuple[int, ...] = ()) -> bool:
        a = np.asarray(a, dtype=self.dtype)
        b = np.asarray(b, dtype=self.dtype)
        if a.shape != b.shape:
            raise AssertionError(
                f"{self.concept}: step {step}, {quantity}: shapes differ, {self.labels[0]} "
                f"{a.shape} vs {self.labels[1]} {b.shape}"
            )
        found = self.check_rows(quantity, step, a[np.newaxis], b[np.newaxis], prefix)
        if found is not None and self.first is None:
            self.first = found
        return found is None

    def check_rows(
        self, quantity: str, first_step: int, a: np.ndarray, b: np.ndarray,
        prefix: tuple[int, ...] = (),
    ) -> Mismatch | None:
        """Check consecutive steps at once: row r of ``a``/``b`` (already in ``self.dtype``) is
        step ``first_step + r``. Updates the maxima; returns (does not record) the first
        mismatch in step order, then index order — what checking row by row would find."""
        found = self.mismatch_rows(quantity, first_step, a, b, prefix, every=False)
        return found[0] if found else None

    def mismatch_rows(
        self, quantity: str, first_step: int, a: np.ndarray, b: np.ndarray,
        prefix: tuple[int, ...] = (), *, every: bool = True,
    ) -> list[Mismatch]:
        """:meth:`check_rows`, but the first mismatch of *every* row that has one (``every``)."""
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        with np.errstate(invalid="ignore"):  # inf − inf is NaN: a mismatch unless a == b
            diff = np.abs(a64 - b64)
        scale = np.maximum(np.abs(a64), np.abs(b64))
        ulps = ulp_distance(a, b, self.dtype)
        # an infinite scale must not excuse an infinite |Δ| (inf vs a finite value), equal values
        # (inf and inf included) always agree, and NaN never does
        tol = self.atol + self.rtol * np.where(np.isfinite(scale), scale, 0.0)
        with np.errstate(invalid="ignore"):
            bad = ~((diff <= tol) | (a64 == b64))
        if diff.size:
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.where(scale > 0, diff / scale, 0.0)
            self._bump(self.max_abs, quantity, float(np.max(diff)))
            self._bump(self.max_rel, quantity, float(np.max(rel)))
            self._bump(self.max_ulps, quantity, int(np.max(ulps)))
        if not bad.any():
            return []
        flat = bad.reshape(len(bad), -1)
        rows = np.flatnonzero(flat.any(axis=1)) if every else [int(np.argmax(flat.any(axis=1)))]
        out = []
        for row in rows:
            i = np.unravel_index(int(np.argmax(flat[row])), bad.shape[1:])
            at = (row, *i)
            out.append(Mismatch(self.concept, first_step + int(row), quantity,
                                prefix + tuple(int(k) for k in i), float(a[at]), float(b[at]),
                                float(diff[at]), int(ulps[at]), self.rtol, self.atol,
                                self.labels))
        return out

    @staticmethod
    def _bump(store: dict, key: str, value: float) -> None:
        old = store.get(key)
        if old is None or value > old or math.isnan(value):
            store[key] = value


#: Steps the lockstep comparison gathers before checking them in one vectorised pass.
_BLOCK_STEPS = 512


#: ``judge(step, mismatches, (weights_before_a, weights_before_b), gap, loss_gap,
#: (reported_loss_a, reported_loss_b))``: the Mismatch that stands, or None
Judge = Callable[[int, list[Mismatch], tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]],
                  float, float, tuple[float, float]], "Mismatch | None"]


def param_labels(n_params: int, bias: bool) -> list[tuple[str, tuple[int, ...]]]:
    """How each parameter array is named in the verdict: ``("weights", ())`` for a single
    weight vector, ``("weights", (k,))`` for layer k of a network; with ``bias`` the second half
    of the arrays are the biases: ``("bias", ())`` for a neuron's, ``("bias", (k,))`` for layer
    k's. Each name gets its own maxima (``max_abs_diff["bias"]``)."""
    if not bias or n_params < 2:
        return [("weights", (k,) if n_params > 1 else ()) for k in range(n_params)]
    half = n_params // 2
    index = (lambda k: ()) if half == 1 else (lambda k: (k,))
    return ([("weights", index(k)) for k in range(half)]
            + [("bias", index(k)) for k in range(n_params - half)])


def param_names(n_params: int, bias: bool) -> list[str]:
    """Each parameter array's name for a message, as :func:`param_labels` names it: "weights"
    and "bias" for a neuron; "weights[k] (layer k+1: input → hidden layer 1)", ..., and
    "bias[k] (hidden layer k+1)", ..., "bias[L] (the output unit)" for a network."""
    labels = param_labels(n_params, bias)
    n_layers = sum(quantity == "weights" for quantity, _ in labels)
    names = []
    for quantity, index in labels:
        if not index:
            names.append(quantity)
        elif quantity == "weights":
            names.append(layer_name(index[0], n_layers))
        else:
            k = index[0]
            unit = "the output unit" if k == n_layers - 1 else f"hidden layer {k + 1}"
            names.append(f"bias[{k}] ({unit})")
    return names


class _StepBuffer:
    """The last few steps' parameters and losses of both backends, checked a block at a time.

    Checking a step costs a dozen small NumPy calls however small the parameters are. So
    :meth:`add` only keeps the step's arrays (the copies :func:`_lockstep` made), and
    :meth:`flush` (every :data:`_BLOCK_STEPS` steps, before any other check, and at the end)
    runs the tracker's vectorised check over the block: the weights, the loss and the update
    Δw = w_after − w_before of every step (:func:`~gd_compare.proof.verdict.update_rows`). The
    maxima
    and the first mismatch are exactly those a step-by-step check finds; memory stays
    O(parameters). A step that disagrees goes to ``judge`` (re-judged from a common state and
    against the trajectory's sensitivity, :class:`~gd_compare.proof.verdict.Rejudge`), which says
    whether the mismatch stands. With ``eager`` (stop at the first failure) each step also gets a
    cheap test that can only err towards flushing at once: Σ(a − b)² ≤ (atol/2)² means no
    element can exceed the tolerance.
    """

    def __init__(self, tracker: _Tracker, eager: bool, rows: int | None = None,
                 start: tuple[np.ndarray, ...] = (), judge: Judge | None = None,
                 bias: bool = False) -> None:
        self.tracker, self.eager, self.judge, self.bias = tracker, eager, judge, bias
        self.rows = rows or _BLOCK_STEPS
        self.quiet = (tracker.atol / 2) ** 2
        self.n_params = -1
        self.params: list[tuple[list[np.ndarray], list[np.ndarray]]] = []
        self.losses: tuple[list[float], list[float]] = ([], [])
        self.first_step = 0
        self.count = 0
        # both backends' parameters before the next step (the shared start, at first)
        self.before: list[tuple[np.ndarray, np.ndarray]] | None = (
            [(np.asarray(p), np.asarray(p)) for p in start] if start else None)

    def add(self, step: int, a: Step, b: Step) -> None:
        if self.n_params != len(a.params):
            self.flush()
            self.n_params = len(a.params)
            self.params = [([], []) for _ in a.params]
        if len(b.params) != self.n_params:
            raise ValueError(f"{self.tracker.concept}: step {step}: the backends yield "
                             f"{len(a.params)} and {len(b.params)} parameter arrays")
        if self.count and step != self.first_step + self.count:
            self.flush()
        if not self.count:
            self.first_step = step
        for (keep_a, keep_b), pa, pb in zip(self.params, a.params, b.params, strict=True):
            keep_a.append(pa)  # arrays, copies already (_lockstep)
            keep_b.append(pb)
        self.losses[0].append(a.loss)
        self.losses[1].append(b.loss)
        self.count += 1
        if (self.eager and self._suspect(a, b)) or self.count == self.rows:
            self.flush()

    def _suspect(self, a: Step, b: Step) -> bool:
        """Whether the step may disagree (``eager``): only a step that cannot is left for the
        block's check."""
        for pa, pb in zip(a.params, b.params, strict=True):
            if pa.shape != pb.shape:
                return True
            d = (pa - pb).ravel()
            if not np.vdot(d, d) <= self.quiet:
                return True
        return not (abs(a.loss - b.loss) <= self.tracker.atol / 2)

    def flush(self) -> None:
        n, tracker, first = self.count, self.tracker, self.first_step
        if not n:
            return
        self.count = 0
        dt = tracker.dtype
        found: dict[int, list[tuple[int, Mismatch]]] = {}
        labels = param_labels(len(self.params), self.bias)
        before_a: list[np.ndarray | None] = []
        before_b: list[np.ndarray | None] = []
        gaps = np.zeros(n)
        update_gaps = np.zeros(n)
        for k, (keep_a, keep_b) in enumerate(self.params):
            quantity, prefix = labels[k]
            shape = keep_a[0].shape
            before = self.before[k] if self.before and len(self.before) > k else None
            if all(p.shape == shape for p in (*keep_a, *keep_b)):
                A = np.asarray(np.stack(keep_a), dtype=dt)
                B = np.asarray(np.stack(keep_b), dtype=dt)
                for m in tracker.mismatch_rows(quantity, first, A, B, prefix):
                    found.setdefault(m.step, []).append((2 * k, m))
                with np.errstate(invalid="ignore"):  # NaN propagates: it is never explained
                    gaps = np.maximum(gaps, np.abs(A.astype(np.float64) - B.astype(np.float64))
                                   .reshape(n, -1).max(axis=1))
                if before is not None and before[0].shape == shape:
                    A0 = np.concatenate([np.asarray(before[0], dtype=dt)[np.newaxis], A[:-1]])
                    B0 = np.concatenate([np.asarray(before[1], dtype=dt)[np.newaxis], B[:-1]])
                    self._updates(first, k, prefix, A0, A, B0, B, found, update_gaps)
                    before_a.append(A0)
                    before_b.append(B0)
                else:
                    before_a.append(None)
                    before_b.append(None)
                self._set_before(k, A[-1], B[-1])
            else:  # shapes change from step to step (or differ: check() raises) — row by row
                rows = []
                for r, (pa, pb) in enumerate(zip(keep_a, keep_b)):
                    if pa.shape != pb.shape:
                        tracker.check(quantity, first + r, pa, pb)  # raises: shapes differ
                    rows.append(tracker.check_rows(
                        quantity, first + r, np.asarray(pa, dtype=dt)[np.newaxis],
                        np.asarray(pb, dtype=dt)[np.newaxis], prefix))
                for m in rows:
                    if m is not None:
                        found.setdefault(m.step, []).append((2 * k, m))
                before_a.append(None)
                before_b.append(None)
                self._set_before(k, keep_a[-1], keep_b[-1])
            keep_a.clear()
            keep_b.clear()
        la, lb = (np.asarray(v, dtype=dt) for v in self.losses)
        for m in tracker.mismatch_rows("loss", first, la, lb):
            found.setdefault(m.step, []).append((2 * len(self.params), m))
        with np.errstate(invalid="ignore"):
            loss_gaps = np.abs(la.astype(np.float64) - lb.astype(np.float64))
        reported = (list(self.losses[0]), list(self.losses[1]))
        self.losses[0].clear()
        self.losses[1].clear()
        for step in sorted(found):
            if tracker.first is not None:
                break
            candidates = [m for _, m in sorted(found[step], key=lambda t: t[0])]
            r = step - first
            if self.judge is None or any(b is None for b in before_a):
                tracker.first = candidates[0]
                break
            befores = (tuple(A0[r] for A0 in before_a if A0 is not None),
                       tuple(B0[r] for B0 in before_b if B0 is not None))
            gap = max(float(gaps[r]), float(update_gaps[r]) / 2)
            tracker.first = self.judge(step, candidates, befores, gap, float(loss_gaps[r]),
                                       (reported[0][r], reported[1][r]))

    def _updates(self, first: int, k: int, prefix: tuple[int, ...], A0: np.ndarray,
                 A: np.ndarray, B0: np.ndarray, B: np.ndarray,
                 found: dict[int, list[tuple[int, Mismatch]]], update_gaps: np.ndarray) -> None:
        """The update check of one parameter array over the block (rows = steps)."""
        tracker = self.tracker
        bad, worst, where = update_rows(A0, A, B0, B, tracker.rtol, tracker.dtype)
        np.maximum(update_gaps, worst, out=update_gaps)
        if worst.size:
            tracker._bump(tracker.max_abs, "update", float(np.max(worst)))
        for r in np.flatnonzero(bad):
            i = np.unravel_index(int(where[r]), A.shape[1:])
            da = float(A[(r, *i)]) - float(A0[(r, *i)])
            db = float(B[(r, *i)]) - float(B0[(r, *i)])
            m = Mismatch(tracker.concept, first + int(r), "update",
                         prefix + tuple(int(j) for j in i), da, db, float(worst[r]),
                         0, tracker.rtol, tracker.atol, tracker.labels)
            found.setdefault(m.step, []).append((2 * k + 1, m))

    def _set_before(self, k: int, a: np.ndarray, b: np.ndarray) -> None:
        if self.before is None:
            self.before = []
        while len(self.before) <= k:
            self.before.append((a, b))
        self.before[k] = (a, b)
