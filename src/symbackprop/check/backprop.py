"""Checking a user's own backprop: calling it on random draws (its layout detected), comparing every entry with the
derived gradients, and naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..derive import Derivation, derive
from ..draws import random_problem
from ..errors import SymbackpropError, Terminated, UserCodeError
from .calling import Callee, instance
from .diagnose import Case, diagnose
from .layouts import LAYOUTS, Columns, Rows
from .penalty import convention_of
from .report import ParamResult, Report, compare
from .user_code import (
    attempt,
    guarded,
    load_user_module,
    numbers,
    reach,
    user_class,
    user_error,
    user_function,
)


def _run(call, layout, params, X, Y, path, timeout) -> tuple:
    """(what the user's code returned, None), or (None, the error it raised), for our draws in ``layout``."""
    return attempt(path, timeout, "the function", lambda: call(layout, *layout.inputs(params, X, Y)))


def _detect_layout(net, call, path, timeout, seed) -> tuple:
    """(the layout under which ``fn`` runs and answers in the network's parameter names (columns first), None);
    when it runs under none, the attempt that got furthest into the user's code and a note naming what the other
    said (added to the user's error, should the check's own draws fail too)."""
    failed, ran = [], []
    for layout in (Columns(net), Rows(net)):
        params, X, Y = random_problem(net, np.random.default_rng(seed + 7919), 4)
        out, err = _run(call, layout, params, X, Y, path, timeout)
        if err is not None:  # it does not run this way: try the next layout
            failed.append((layout, err))
            continue
        out = out[1] if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict) else out
        if isinstance(out, dict) and set(layout.gradients(out)) >= set(net.shapes()):
            return layout, None
        if isinstance(out, dict):  # it ran, with some parameters missing: the report will say which
            ran.append((len(set(layout.gradients(out)) & set(net.shapes())), layout))
    if ran:
        return max(ran, key=lambda pair: pair[0])[1], None
    if len(failed) == 2:
        layout, _ = max(failed, key=lambda pair: reach(pair[1], path))
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


def _convention(net, ref, call, layout, reg, path, timeout, seed, scale) -> tuple:
    """((name, c(reg, m)), a note): the penalty's convention told from one call on a batch of 4 of its own."""
    params, X, Y = random_problem(net, np.random.default_rng(seed + 104729), 4)
    want_cost, want = ref(params, X, Y)
    out, err = _run(call, layout, params, X, Y, path, timeout)
    if err is not None:  # the check's own draws report it
        return convention_of(None, None, params, want, want_cost, net, 4, scale, reg, f"{type(err).__name__}")
    loss = out[0] if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict) else None
    grads = out[1] if loss is not None else out
    grads = {k: numbers(v, want[k].shape) for k, v in layout.gradients(grads).items() if k in want} \
        if isinstance(grads, dict) else {}
    loss = numbers(loss) if loss is not None else None
    loss = float(loss.ravel()[0]) if isinstance(loss, np.ndarray) and loss.size == 1 else None
    return convention_of(loss, grads, params, want, want_cost, net, 4, scale, reg)


AMBIGUOUS = ("every gradient is m times the mean's and no cost is returned to tell which you meant: right if your "
             "cost is a sum over the samples, the /m forgotten if it is a mean; say which with --sum or --mean")


def check_backprop(spec, fn, cost: str | None = None, trials: int = 5, seed: int = 0, rtol: float = 1e-6,
                   atol: float = 1e-9, path: Path | None = None, label: str | None = None,
                   timeout: float | None = None, layout: str = "auto", scale: str = "auto",
                   reg: float | None = None) -> Report:
    """Call ``fn(params, X, Y)`` (or a :class:`calling.Callee`: the user's code called as written) on ``trials``
    random draws (one sample, then a batch of 4) and compare every returned entry with the derived gradient.
    ``fn`` returns ``grads`` or ``(cost, grads)``.

    ``layout``: ``columns`` (symbackprop's: samples are columns, W (out, in), biases (n, 1) as ``B1``, one-hot
    targets, the mean cost), ``rows`` (most courses': samples are rows, W (in, out), 1-D biases as ``b1``,
    integer labels, the cost summed or averaged), or ``auto``: the one the function runs under.  ``scale``: what
    the user's cost is, ``mean`` or ``sum`` over the samples, or ``auto``: in the rows layout, told by the returned
    cost; gradients m times the mean's with no cost returned are then ambiguous, reported as such (never a pass).
    ``reg``: the L2 strength given to the user's code (``--reg``); its convention (½·reg·ΣW², reg·ΣW² or
    λ/(2m)·ΣW², on the weights) is told from what the function returns, and the derivative added to the weights'.
    """
    if scale not in ("auto", "mean", "sum"):
        raise SymbackpropError(f"scale must be auto, mean or sum, not {scale!r}")
    d = spec if isinstance(spec, Derivation) else derive(spec, cost)
    net = d.network
    net.require_matrices("check (your own backprop)")
    ref = d.compile("numpy")
    if layout not in ("auto", *LAYOUTS):
        raise SymbackpropError(f"--layout must be auto, rows or columns, not {layout!r}")
    call = fn if isinstance(fn, Callee) else (lambda _, *args: fn(*args))
    chosen, tried = _detect_layout(net, call, path, timeout, seed) if layout == "auto" else (LAYOUTS[layout](net), None)
    convention, reg_note = _convention(net, ref, call, chosen, reg, path, timeout, seed, scale) if reg else (None, None)
    penalised = {q.name for q in net.params if q.penalised}
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
            out, err = _run(call, chosen, params, X, Y, path, timeout)
            if err is not None:  # the user's own error (GeneratorExit too), at their line
                raise UserCodeError(user_error(err, path) + (f" ({tried})" if tried else ""))
            returned_cost = None
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
                returned_cost = numbers(out[0])
                out = (out[0], chosen.gradients(out[1]))
            elif isinstance(out, dict):
                out = chosen.gradients(out)
            if summed is None and m > 1:
                told = (float(returned_cost.ravel()[0]) if isinstance(returned_cost, np.ndarray) and
                        returned_cost.size == 1 else None)
                answer = out[1] if isinstance(out, tuple) else out
                returned = {k: numbers(v, shapes.get(k)) for k, v in answer.items()}
                if convention is not None:  # the penalty taken out first: the data term says sum or mean
                    c = convention[2](reg, m)
                    told = None if told is None else told - c / 2 * sum(float(np.sum(params[k] ** 2))
                                                                        for k in penalised)
                    returned = {k: g - c * params[k] if k in penalised and isinstance(g, np.ndarray) and
                                g.shape == params[k].shape else g for k, g in returned.items()}
                summed = chosen.name == "rows" and _summed(told, want_cost, returned, want, m)
                ambiguous = summed and told is None
            per = m if summed else 1
            plain = want
            if convention is not None:  # the penalty's derivative, in the units compared (the user's over per)
                c = convention[2](reg, m) / per
                want = {k: g + c * params[k] if k in penalised else g for k, g in want.items()}
                want_cost = want_cost + c / 2 * sum(float(np.sum(params[k] ** 2)) for k in penalised)
            if isinstance(out, tuple):
                cost_result = results.setdefault("cost", ParamResult("cost", (1, 1), (1, 1)))
                got_cost = numbers(out[0])
                if not isinstance(got_cost, str):
                    got_cost = got_cost / per
                if isinstance(got_cost, str) or got_cost.size != 1:
                    cost_result.problem = (f"the returned cost {got_cost}" if isinstance(got_cost, str) else
                                           "the returned cost is not one number (the mean over the samples)")
                else:
                    got_cost = got_cost.reshape(1, 1)
                    compare(cost_result, got_cost, np.array([[want_cost]]), rtol, atol,
                             f"draw {trial}, {'1 sample' if m == 1 else f'batch of {m}'}")
                out = out[1]
            if not isinstance(out, dict):
                raise UserCodeError(f"the function returned {type(out).__name__}; expected a dict of gradients "
                                    f"with keys {', '.join(shapes)}")
            extra |= set(map(str, out)) - set(shapes)
            got_all = {k: numbers(v, shapes[k]) for k, v in out.items() if k in shapes}
            got_all = {k: v / per if isinstance(v, np.ndarray) else v for k, v in got_all.items()}
            cases.append(Case(params, X, Y, {k: v for k, v in got_all.items() if isinstance(v, np.ndarray)}, want,
                              plain if convention is not None else None))
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
                compare(res, got, want[name], rtol, atol, case, lambda ij, k=name: chosen.their_index(k, ij))
    for name, res in results.items():  # the names as the user's code read them, now that it has run
        res.shown = chosen.their_name(name) if name in shapes and chosen.their_name(name) != name else res.shown
    for name, res in results.items():
        if name != "cost" and not res.ok and res.problem != "missing from the returned gradients":
            res.diagnosis = diagnose(d, name, cases, chosen, convention)
    how = "detected from your function" if layout == "auto" else "chosen with --layout"
    notes = [f"layout: {chosen.description}; {how}"] + (fn.notes if isinstance(fn, Callee) else [])
    values = {str(s.lhs).lower() for s in d.program.steps if s.role == "forward"} | {"a0", "x"}
    inner = sorted(k for k in extra if k.lower().startswith("d") and k[1:].lower() in values)  # dA1, dZ2: a course's
    if inner:
        extra -= set(inner)
        notes.append(f"also returned, not checked (gradients of values, not of parameters): {', '.join(inner)}")
    notes += [reg_note] if reg_note else []
    if summed and not ambiguous:
        notes.append("your cost and gradients are sums over the samples; they are divided by m to compare"
                     + (" (--sum)" if scale == "sum" else ""))
    params = list(results.values())
    if ambiguous:  # compared as sums, so that the entries say the rest; the verdict waits for --sum or --mean
        params.append(ParamResult("scale", (1, 1), problem=AMBIGUOUS))
    return Report(title, params, sorted(extra), notes)


def check_file(spec, target: str, cost: str | None = None, trials: int = 5, seed: int = 0,
               timeout: float = 60.0, layout: str = "auto", scale: str = "auto", reg: float | None = None,
               forward: str | None = None) -> Report:
    """``check_backprop`` on ``FILE.py:FUNC`` or ``FILE.py:Class.method``, called as written (``calling``); each
    call of the user's code may take ``timeout`` seconds."""
    if trials < 1:
        raise SymbackpropError(f"--trials must be at least 1, not {trials}")
    if not timeout > 0:
        raise SymbackpropError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    if reg is not None and not (reg >= 0 and np.isfinite(reg)):
        raise SymbackpropError(f"--reg must be a number of at least 0, not {reg:g}")
    d = derive(spec, cost)
    module, path, name = load_user_module(target, timeout)
    if "." in name:
        cls, method = user_class(module, path, name)
        try:
            with guarded(path, timeout, f"building {cls.__name__}"):
                fn = getattr(instance(cls, d.network, reg, target), method)
        except (UserCodeError, KeyboardInterrupt, Terminated):
            raise
        except BaseException as err:  # noqa: BLE001 - the user's constructor may raise anything
            raise UserCodeError(f"building {cls.__name__}: {user_error(err, path)}") from None
        callee = Callee(fn, target, d.network, module, reg, forward, instance_of=cls)
    else:
        callee = Callee(user_function(module, path, name), target, d.network, module, reg, forward)
    return check_backprop(d, callee, trials=trials, seed=seed, path=path, label=target, timeout=timeout,
                          layout=layout, scale=scale, reg=reg)
