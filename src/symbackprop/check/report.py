"""What check and gradcheck found: each parameter's comparison, the report as text and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ParamResult:
    """How one parameter's gradient compared: shape, worst errors and the first wrong entries."""

    name: str
    expected_shape: tuple[int, int]
    shape: tuple | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0
    wrong: list[dict] = field(default_factory=list)
    problem: str | None = None
    by_atol: float | None = None  # the absolute tolerance, when some entries passed only by it
    diagnosis: str | None = None  # the classic mistake that reproduces the user's numbers (check only)
    shown: str | None = None  # the name as the user's code has it (b1 for our B1), where it differs

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.wrong


@dataclass
class Report:
    """The outcome of :func:`gradcheck` or :func:`check_backprop`."""

    title: str
    params: list[ParamResult]
    extra: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.params) and not self.extra

    @property
    def worst_rel(self) -> float:
        return max((p.max_rel for p in self.params), default=0.0)

    def to_text(self) -> str:
        lines = [self.title]
        for p in self.params:
            mark = "✓" if p.ok else "✗"
            name = p.shown or p.name
            if p.problem:
                lines.append(f"  {mark} {name:<4} {p.problem}")
                if p.diagnosis:
                    lines.append(f"      → {p.diagnosis}")
                continue
            decided = (f"   (entries near 0 pass by the absolute tolerance {p.by_atol:.0e})"
                       if p.ok and p.by_atol is not None else "")
            lines.append(f"  {mark} {name:<4} {str(p.expected_shape):<9} max abs err {p.max_abs:.2e}   "
                         f"max rel err {p.max_rel:.2e}{decided}")
            for w in p.wrong[:3]:
                where = "" if p.name == "cost" else f"[{', '.join(map(str, w['index']))}]"
                lines.append(f"      {name}{where}: yours {w['yours']:.6g}, "
                             f"correct {w['correct']:.6g} ({w['case']})")
            if len(p.wrong) > 3:
                lines.append(f"      ... and {len(p.wrong) - 3} more wrong entries")
            if p.diagnosis and p.problem is None:
                lines.append(f"      → {p.diagnosis}")
        for name in self.extra:
            lines.append(f"  ✗ {name:<4} is not a parameter of this network")
        lines += [f"  note: {n}" for n in self.notes]
        params = [p for p in self.params if p.name not in ("cost", "scale")]
        bad = sum(not p.ok for p in params) + len(self.extra)
        lines.append(f"worst relative error: {self.worst_rel:.2e}")
        undecided = any(p.name == "scale" and not p.ok for p in self.params)
        lines.append("OK: every gradient agrees" if self.ok else
                     f"FAIL: {bad} of {len(params)} parameters disagree" if bad else
                     "UNDECIDED: the gradients agree as sums; give --sum or --mean" if undecided else
                     "FAIL: the cost disagrees")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "title": self.title, "ok": self.ok, "worst_rel": self.worst_rel, "extra": self.extra,
            "notes": self.notes,
            "params": [{"name": p.name, "yours": p.shown or p.name, "ok": p.ok,
                        "expected_shape": list(p.expected_shape),
                        "shape": list(p.shape) if p.shape is not None else None, "max_abs": p.max_abs,
                        "max_rel": p.max_rel, "passed_by_absolute_tolerance": p.by_atol, "wrong": p.wrong[:10],
                        "problem": p.problem, "diagnosis": p.diagnosis} for p in self.params],
        }

    def __str__(self) -> str:
        return self.to_text()


def compare(result: ParamResult, got, want, rtol, atol, case: str, index=list) -> None:
    """Record the errors of ``got`` against ``want``; a NaN or infinite entry is wrong, whatever the tolerance;
    ``index`` turns our entry index into the user's."""
    bad = ~np.isfinite(got)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(bad, np.inf, np.abs(got - want))
        rel = np.where(bad, np.inf, err / np.maximum(np.maximum(np.abs(want), np.abs(got)), 1e-300))  # at most 2
    result.max_abs = max(result.max_abs, float(err.max(initial=0.0)))
    result.max_rel = max(result.max_rel, float(rel.max(initial=0.0)))
    wrong = bad | (err > atol + rtol * np.abs(want))
    if np.any(~wrong & (err > rtol * np.abs(want))):  # near-zero entries: the absolute tolerance decided
        result.by_atol = atol
    for i, j in zip(*np.nonzero(wrong)):
        result.wrong.append({"index": index([int(i), int(j)]), "yours": float(got[i, j]),
                             "correct": float(want[i, j]), "case": case})
