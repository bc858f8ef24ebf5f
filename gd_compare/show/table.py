"""The side-by-side table ``gd-compare`` prints (and notebooks show): one row per
concept, its notes below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gd_compare.lesson.concepts import get_concept
from gd_compare.proof.harness import Comparison

__all__ = ['SAME_MATH', 'Outcome', 'format_table', 'verdict_word']


@dataclass
class Outcome:
    """A concept that did not produce a verdict: it diverged, or its run crashed."""

    concept: str
    status: str  # "diverged" or "error"
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.concept, "status": self.status, "passed": False,
                "trajectories": "agree", "message": self.message}


def _fmt(value: Any) -> str:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    parts = [f"{v:.6g}" for v in arr[:3]]
    text = ", ".join(parts) + (", …" if arr.size > 3 else "")
    return text if np.ndim(value) == 0 else f"[{text}]"


def _headline(result: Comparison) -> tuple[str, str, str]:
    name = result.headline
    if name.startswith("train "):
        return name, _fmt(result.numpy.final_loss), _fmt(result.torch.final_loss)
    return name, _fmt(result.numpy.values[name]), _fmt(result.torch.values[name])


#: The verdict word of a passing run whose trajectories parted by amplified rounding, each step
#: verified the same math (``Comparison.trajectories == "amplified"``; still passed, exit 0).
SAME_MATH = "SAME MATH"


def verdict_word(r: Comparison) -> str:
    """PASS, FAIL, or :data:`SAME_MATH` for an amplified run."""
    if not r.passed:
        return "FAIL"
    return SAME_MATH if r.trajectories == "amplified" else "PASS"


def _per_step(r: Comparison) -> str:
    """The per-step figure of an amplified run: the largest difference found from a common
    state or by the update audit, as a fraction of what its check allows (< 1: verified)."""
    f = r.rejudge
    if f is None or not f.amplified_steps:
        return "–"
    return f"{max(f.common_state_max_fraction, f.update_audit_max_fraction):.2f}×tol"


def format_table(results: Sequence[Comparison | Outcome]) -> str:
    """concept | quantity | NumPy | PyTorch | max |Δ| (free-running) | per step | ULPs | steps |
    verdict (PASS, SAME MATH, FAIL, DIVERGED, ERROR)"""
    header = ("concept", "quantity", "NumPy (by hand)", "PyTorch (autograd)", "max |Δ|",
              "per step", "ULPs", "steps", "verdict")
    rows = []
    for r in results:
        if isinstance(r, Outcome):
            rows.append((r.concept, get_concept(r.concept).headline, "–", "–", "–", "–", "–",
                         "–", r.status.upper()))
            continue
        quantity, a, b = _headline(r)
        max_abs = max(r.max_abs_diff.values(), default=0.0)
        ulps = max(r.max_ulps.values(), default=0)
        rows.append((r.concept, quantity, a, b, f"{max_abs:.2e}", _per_step(r), str(ulps),
                     str(r.steps), verdict_word(r)))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _notes(r: Comparison) -> list[str]:
    """What a learner needs to read a verdict: amplified rounding, ties, saturation."""
    notes = []
    f = r.rejudge
    if f is not None and f.amplified_steps and r.passed:
        notes.append(
            f"{r.concept}: SAME MATH — {_why(r)}; the free-running gap reaches {f.max_gap:.3g}. "
            f"Each of the {f.amplified_steps} steps beyond the tolerance was verified: from a "
            f"common state the gradients and losses agree (at most "
            f"{f.common_state_max_fraction:.2f} of what rounding allows), each reported loss "
            f"is its loss function's, and each "
            f"backend's update is its optimizer's step from its own gradient (at most "
            f"{f.update_audit_max_fraction:.2f} of the tolerance, {f.update_audit_steps} steps "
            f"audited)")
    if r.threshold_rows:
        notes.append(f"{r.concept}: test row(s) {list(r.threshold_rows)} sit on the threshold: "
                     f"the outputs agree within the tolerance but fall on opposite sides of 0.5 "
                     f"(a tie, not a mismatch; the accuracies differ by these rows)")
    if getattr(r, "schedule_tie", None) is not None:
        notes.append(f"{r.concept}: {r.schedule_tie} (compared {r.steps} steps)")
    saturated = _saturation(r)
    if saturated is not None:
        notes.append(saturated)
    return notes


def _why(r: Comparison) -> str:
    """One line on why the trajectories separated: which optimizer or lr amplifies rounding,
    and from which step."""
    f = r.rejudge
    assert f is not None
    setting = r.setting or "this optimizer at this learning rate"
    return (f"the trajectories separate from step {f.first_amplified_step}: {setting} "
            f"amplifies rounding differences of a few ULPs, as NumPy does against "
            f"itself nudged by 1 ULP per step ({f.max_ratio:.3g}x as far apart at most)")


def _saturation(r: Comparison) -> str | None:
    """Flag a training run whose outputs are pinned at 0 or 1: sigmoid'(h) ≈ 0, so every
    gradient vanishes and the loss stays flat (a learning rate far too large)."""
    spec = get_concept(r.concept)
    if spec.kind != "training" or r.numpy.final_loss is None:
        return None
    from gd_compare import numpy_backend

    try:
        X = spec.inputs(r.dtype).kwargs["features"]
        weights = r.numpy.final_weights
        out = getattr(numpy_backend, spec.forward_function)(
            X, weights[0] if len(weights) == 1 else weights)
    except (ValueError, TypeError, KeyError):
        return None  # the run used data of its own: nothing to say
    pinned = float(np.mean(out * (1 - out) < 1e-8))
    if pinned < 0.5:
        return None
    return (f"{r.concept}: saturated — {pinned:.0%} of the training outputs are pinned at 0 or 1 "
            f"(sigmoid'(h) < 1e-8), so the gradients vanish and the loss stays flat: the "
            f"learning rate is far too large for this model")
