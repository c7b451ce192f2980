"""Proving gradients: finite differences against the compiled code, and checking a user's own backprop."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .derive import Derivation, derive
from .diagnose import Case, diagnose
from .draws import random_problem
from .errors import SymbackpropError, Terminated, UserCodeError
from .fileio import existing_file
from .layouts import LAYOUTS, Columns, Rows


def _near_kink(derivation, params, X, margin: float) -> bool:
    """True when the input of a layer with a kink (ReLU-family) lies within ``margin`` of its kink at 0."""
    values = derivation.compile("numpy").module.forward(params, X)
    return any(np.any(np.abs(values[str(node.site.ins[0])]) < margin)
               for node in derivation.network.nodes if "kink" in node.layer.traits)


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


def _compare(result: ParamResult, got, want, rtol, atol, case: str, index=list) -> None:
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


def _derivation(spec_or_derivation, cost) -> Derivation:
    if isinstance(spec_or_derivation, Derivation):
        return spec_or_derivation
    return derive(spec_or_derivation, cost)


def gradcheck(spec_or_derivation, cost: str | None = None, seed: int = 0, m: int = 3, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, backend: str = "numpy") -> Report:
    """Central finite differences in float64 for every parameter entry against the compiled gradients.

    Tolerances default to ``torch.autograd.gradcheck``'s.  Draws whose ReLU pre-activations lie
    within a few eps of a kink are redrawn (and the report says so).
    """
    d = _derivation(spec_or_derivation, cost)
    net = d.network
    f = d.compile(backend)
    cost_fn = d.compile("numpy").module.cost
    rng = np.random.default_rng(seed)
    redraws = 0
    params, X, Y = random_problem(net, rng, m)
    while _near_kink(d, params, X, 100 * eps) and redraws < 50:
        redraws += 1
        params, X, Y = random_problem(net, rng, m)
    _, grads = f(params, X, Y)
    _affordable(net, lambda: cost_fn(params, X, Y))
    report = Report(f"gradcheck {net.spec} ({net.cost.name}): central differences, eps {eps:g}, "
                    f"{m} samples", [])
    bar = _progress(2 * net.n_params)
    for name, shape in net.shapes().items():
        fd = np.zeros(shape)
        for idx in np.ndindex(*shape):
            bar.update(2)
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            fd[idx] = (cost_fn(plus, X, Y) - cost_fn(minus, X, Y)) / (2 * eps)
        result = ParamResult(name, shape, shape)
        _compare(result, fd, grads[name], rtol, atol, "finite difference vs derived")
        report.params.append(result)
    bar.close()
    if redraws:
        report.notes.append(f"redrew the random point {redraws} time(s) to keep ReLU pre-activations "
                            f"away from their kinks")
    return report


GRADCHECK_SECONDS = 30  # finite differences estimated to take longer are refused before they start


def _affordable(net, cost_once) -> None:
    """Refuse, with the numbers, a gradcheck whose 2 cost evaluations per parameter entry would take over
    :data:`GRADCHECK_SECONDS` (each evaluation timed here, the median of three)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        cost_once()
        times.append(time.perf_counter() - start)
    each = sorted(times)[1]
    seconds = 2 * net.n_params * each
    if seconds > GRADCHECK_SECONDS:
        raise SymbackpropError(f"gradcheck {net.spec} would take about {seconds:,.0f} s (2 × {net.n_params:,} cost "
                               f"evaluations of {each * 1e3:.2g} ms each); gradcheck a narrower network: the same "
                               "derivation rules hold at every width")


def _progress(total: int):
    """A progress bar on a terminal's standard error (nothing elsewhere) over ``total`` cost evaluations."""
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not sys.stderr.isatty(), unit="eval", leave=False, file=sys.stderr,
                mininterval=0.5)


def load_user_function(target: str, timeout: float | None = 60.0):
    """``FILE.py:FUNC`` -> the function; a failing import is one line at the user's own location."""
    path_text, sep, func = target.rpartition(":")
    if not sep or not path_text or not func:
        raise UserCodeError(f"'{target}': expected FILE.py:FUNCTION, e.g. examples/textbook_backprop.py:backprop")
    path = existing_file(path_text, "file", UserCodeError)
    name = f"symbackprop_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        with _guarded(path, timeout, f"importing {path}"):
            spec.loader.exec_module(module)
    except SyntaxError as err:
        raise UserCodeError(f"{err.filename}:{err.lineno}: SyntaxError: {err.msg}") from None
    except (UserCodeError, KeyboardInterrupt, Terminated):
        raise
    except BaseException as err:  # noqa: BLE001 - the user's code may raise anything, GeneratorExit too
        raise UserCodeError(f"importing {path} failed: {_user_error(err, path)}") from None
    fn = getattr(module, func, None)
    if not callable(fn):
        names = sorted(n for n, v in vars(module).items() if callable(v) and getattr(v, "__module__", "") == name)
        raise UserCodeError(f"{path} has no function '{func}'" + (f" (it has: {', '.join(names)})" if names else ""))
    return fn, path


class _Shaped:
    """A much larger array than expected, kept only as its shape: it is never converted (it may be huge)."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def _numbers(value, shape=None) -> np.ndarray | str | _Shaped:
    """``value`` as a float array, or what is wrong with it (complex, not numbers); an array of another shape
    than ``shape`` and far larger is not converted at all (a transposed one is, to name the mistake)."""
    found = getattr(value, "shape", None)
    if shape is not None and isinstance(found, tuple) and found != tuple(shape) and \
            math.prod(found) > max(10 * math.prod(shape), 10_000):
        return _Shaped(found)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return f"is not an array of numbers ({type(value).__name__})"
    if arr.dtype.kind == "c":
        return "has complex values"
    if arr.dtype.kind not in "biuf":
        return f"is not an array of numbers ({type(value).__name__})"
    return arr.astype(float)


class _TimedOut(BaseException):
    """The user's function ran past ``--timeout`` (a BaseException, so their own ``except Exception`` lets it by)."""


@contextlib.contextmanager
def _guarded(path: Path | None, timeout: float | None, what: str):
    """Run the user's code: what it prints goes to stderr, ``sys.exit`` and running past ``timeout`` seconds are
    failures of the call (``UserCodeError``, one line with the user's file and line)."""
    use_alarm = timeout and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()

    def expire(*_):
        raise _TimedOut

    old = signal.signal(signal.SIGALRM, expire) if use_alarm else None
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except _TimedOut:
        raise UserCodeError(f"{what} took longer than {timeout:g} s (--timeout)") from None
    except SystemExit as err:
        raise UserCodeError(f"{_user_error(err, path)}: {what} called sys.exit({err.code!r}); "
                            "symbackprop does not let your code choose its exit code") from None
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def _user_error(err: BaseException, path: Path | None) -> str:
    """``FILE:LINE in FUNC: ExcType: message`` at the deepest frame in the user's file."""
    frames = traceback.extract_tb(err.__traceback__)
    mine = [fr for fr in frames if path is not None and Path(fr.filename).resolve() == path.resolve()]
    where = mine[-1] if mine else (frames[-1] if frames else None)
    loc = f"{where.filename}:{where.lineno} in {where.name}: " if where else ""
    msg = str(err).splitlines()[0] if str(err) else ""
    return f"{loc}{type(err).__name__}: {msg}".rstrip(": ")


def _reach(err: BaseException, path: Path | None) -> tuple[int, int]:
    """How far into the user's code an error came: (frames in their file, the deepest one's line)."""
    mine = [fr for fr in traceback.extract_tb(err.__traceback__)
            if path is not None and Path(fr.filename).resolve() == path.resolve()]
    return len(mine), (mine[-1].lineno or 0) if mine else 0


def _detect_layout(net, fn, path, timeout, seed) -> tuple:
    """(the layout under which ``fn`` runs and answers in the network's parameter names (columns first), None);
    when it runs under none, the attempt that got furthest into the user's code and a note naming what the other
    said (added to the user's error, should the check's own draws fail too)."""
    failed = []
    for layout in (Columns(net), Rows(net)):
        params, X, Y = random_problem(net, np.random.default_rng(seed + 7919), 4)
        try:
            with _guarded(path, timeout, "the function"):
                out = fn(*layout.inputs(params, X, Y))
        except (UserCodeError, KeyboardInterrupt, Terminated):
            raise
        except BaseException as err:  # noqa: BLE001 - it does not run this way: try the next layout
            failed.append((layout, err))
            continue
        out = out[1] if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict) else out
        if isinstance(out, dict) and set(layout.gradients(out)) >= set(net.shapes()):
            return layout, None
    if len(failed) == 2:
        layout, _ = max(failed, key=lambda pair: _reach(pair[1], path))
        other, other_err = next(pair for pair in failed if pair[0] is not layout)
        said = str(other_err).splitlines()[0] if str(other_err) else ""
        return layout, (f"with the {layout.name} layout, which got furthest; with {other.name}: "
                        f"{type(other_err).__name__}: {said}; --layout chooses")
    return Columns(net), None


def _summed(got_cost, want_cost, grads, want, m) -> bool:
    """Whether the user's cost and gradients are sums over the m samples rather than means."""
    if got_cost is not None:
        return abs(got_cost - want_cost * m) < abs(got_cost - want_cost)
    for name, g in grads.items():
        g = g if isinstance(g, np.ndarray) else None
        if g is not None and name in want and g.shape == want[name].shape and np.any(want[name] != 0):
            return np.linalg.norm(g - m * want[name]) < np.linalg.norm(g - want[name])
    return False


AMBIGUOUS = ("every gradient is m times the mean's and no cost is returned to tell which you meant: right if your "
             "cost is a sum over the samples, the /m forgotten if it is a mean; say which with --sum or --mean")


def check_backprop(spec, fn, cost: str | None = None, trials: int = 5, seed: int = 0, rtol: float = 1e-6,
                   atol: float = 1e-9, path: Path | None = None, label: str | None = None,
                   timeout: float | None = None, layout: str = "auto", scale: str = "auto") -> Report:
    """Call ``fn(params, X, Y)`` on ``trials`` random draws (one sample, then a batch of 4) and compare
    every returned entry with the derived gradient.  ``fn`` returns ``grads`` or ``(cost, grads)``.

    ``layout``: ``columns`` (symbackprop's: samples are columns, W (out, in), biases (n, 1) as ``B1``, one-hot
    targets, the mean cost), ``rows`` (most courses': samples are rows, W (in, out), 1-D biases as ``b1``,
    integer labels, the cost summed or averaged), or ``auto``: the one the function runs under.  ``scale``: what
    the user's cost is, ``mean`` or ``sum`` over the samples, or ``auto``: in the rows layout, told by the returned
    cost; gradients m times the mean's with no cost returned are then ambiguous, reported as such (never a pass).
    """
    if scale not in ("auto", "mean", "sum"):
        raise SymbackpropError(f"scale must be auto, mean or sum, not {scale!r}")
    d = _derivation(spec, cost)
    net = d.network
    net.require_matrices("check (your own backprop)")
    ref = d.compile("numpy")
    if layout not in ("auto", *LAYOUTS):
        raise SymbackpropError(f"--layout must be auto, rows or columns, not {layout!r}")
    chosen, tried = _detect_layout(net, fn, path, timeout, seed) if layout == "auto" else (LAYOUTS[layout](net), None)
    summed = {"auto": None, "mean": False, "sum": True}[scale]  # auto: sums or means, decided at the first batch
    ambiguous = False
    rng = np.random.default_rng(seed)
    shapes = net.shapes()
    theirs = {k: chosen.their_shape(k, s) for k, s in shapes.items()}  # shapes as the user's arrays have them
    results = {k: ParamResult(k, theirs[k], shown=chosen.their_name(k) if chosen.their_name(k) != k else None)
               for k in shapes}
    extra: set[str] = set()
    cases: list[Case] = []
    title = (f"check {net.spec} ({net.cost.name}) against {label or getattr(fn, '__name__', 'fn')}: "
             f"{trials} draws, each with 1 sample and a batch of 4")
    for trial in range(1, trials + 1):
        for m in (1, 4):
            params, X, Y = random_problem(net, rng, m)
            want_cost, want = ref(params, X, Y)
            try:
                with _guarded(path, timeout, "the function"):
                    out = fn(*chosen.inputs(params, X, Y))
            except (UserCodeError, KeyboardInterrupt, Terminated):
                raise
            except BaseException as err:  # noqa: BLE001 - report the user's own error (GeneratorExit too), not ours
                raise UserCodeError(_user_error(err, path) + (f" ({tried})" if tried else "")) from None
            returned_cost = None
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
                returned_cost = _numbers(out[0])
                out = (out[0], chosen.gradients(out[1]))
            elif isinstance(out, dict):
                out = chosen.gradients(out)
            if summed is None and m > 1:
                told = (float(returned_cost.ravel()[0]) if isinstance(returned_cost, np.ndarray) and
                        returned_cost.size == 1 else None)
                summed = chosen.name == "rows" and _summed(
                    told, want_cost,
                    {k: _numbers(v, shapes.get(k)) for k, v in (out[1] if isinstance(out, tuple) else out).items()},
                    want, m)
                ambiguous = summed and told is None
            per = m if summed else 1
            if isinstance(out, tuple):
                cost_result = results.setdefault("cost", ParamResult("cost", (1, 1), (1, 1)))
                got_cost = _numbers(out[0])
                if not isinstance(got_cost, str):
                    got_cost = got_cost / per
                if isinstance(got_cost, str) or got_cost.size != 1:
                    cost_result.problem = (f"the returned cost {got_cost}" if isinstance(got_cost, str) else
                                           "the returned cost is not one number (the mean over the samples)")
                else:
                    got_cost = got_cost.reshape(1, 1)
                    _compare(cost_result, got_cost, np.array([[want_cost]]), rtol, atol,
                             f"draw {trial}, {'1 sample' if m == 1 else f'batch of {m}'}")
                out = out[1]
            if not isinstance(out, dict):
                raise UserCodeError(f"the function returned {type(out).__name__}; expected a dict of gradients "
                                    f"with keys {', '.join(shapes)}")
            extra |= set(map(str, out)) - set(shapes)
            got_all = {k: _numbers(v, shapes[k]) for k, v in out.items() if k in shapes}
            got_all = {k: v / per if isinstance(v, np.ndarray) else v for k, v in got_all.items()}
            cases.append(Case(params, X, Y, {k: v for k, v in got_all.items() if isinstance(v, np.ndarray)}, want))
            case = f"draw {trial}, {'1 sample' if m == 1 else f'batch of {m}'}"
            for name, res in results.items():
                if res.problem or name == "cost":
                    continue
                if name not in out:
                    res.problem = "missing from the returned gradients"
                    continue
                got = got_all[name]
                if isinstance(got, str):
                    res.problem = got
                    continue
                if got.shape != shapes[name]:
                    res.shape = chosen.their_shape(name, got.shape)
                    res.problem = f"has shape {res.shape}, expected {theirs[name]} ({case})"
                    continue
                res.shape = theirs[name]
                _compare(res, got, want[name], rtol, atol, case, lambda ij, k=name: chosen.their_index(k, ij))
    for name, res in results.items():
        if name != "cost" and not res.ok and res.problem != "missing from the returned gradients":
            res.diagnosis = diagnose(d, name, cases, chosen)
    how = "detected from your function" if layout == "auto" else "chosen with --layout"
    notes = [f"layout: {chosen.description}; {how}"]
    if summed and not ambiguous:
        notes.append("your cost and gradients are sums over the samples; they are divided by m to compare"
                     + (" (--sum)" if scale == "sum" else ""))
    params = list(results.values())
    if ambiguous:  # compared as sums, so that the entries say the rest; the verdict waits for --sum or --mean
        params.append(ParamResult("scale", (1, 1), problem=AMBIGUOUS))
    return Report(title, params, sorted(extra), notes)


def check_file(spec, target: str, cost: str | None = None, trials: int = 5, seed: int = 0,
               timeout: float = 60.0, layout: str = "auto", scale: str = "auto") -> Report:
    """``check_backprop`` on ``FILE.py:FUNC``; each call of the user's code may take ``timeout`` seconds."""
    if trials < 1:
        raise SymbackpropError(f"--trials must be at least 1, not {trials}")
    if not timeout > 0:
        raise SymbackpropError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    d = derive(spec, cost)
    fn, path = load_user_function(target, timeout)
    return check_backprop(d, fn, trials=trials, seed=seed, path=path, label=target, timeout=timeout, layout=layout,
                          scale=scale)
