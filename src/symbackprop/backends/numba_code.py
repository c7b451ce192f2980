"""The per-sample printer of a Program for numba: loops over each layer's dimensions, one compiled loop."""

from __future__ import annotations

from .. import __version__, naming
from .. import matexpr as mx
from ..errors import SymbackpropError
from ..program import Program
from . import updates
from .loops import LoopWriter, comment
from .numba_parts import COUNTDOWN, HELPERS, TALLY, PythonLoops, apply_and_add
from .numba_plan import Kernels, flat_source

FUSE_LIMIT = 40  # steps; up to this many the loops are written in one function (measured: see the README)


class Inline:
    """Every loop nest written out in ``run`` itself: for small networks, where one function compiles
    quickly and runs fastest (measured in benchmarks/bench_train.py)."""

    sources: list = []

    def __init__(self, program: Program):
        per_sample = {program.input.key: "Xs", program.target.key: "Ys"}
        self.scalars = {s.key for s in program.steps if s.shape == (1, 1) and s.key not in program.param_keys}
        # a step that only renames another value (dC_dB1 = dC_dZ1) reads that value
        self.aliases = {s.key: s.expr.key for s in program.steps if s.expr is not None and s.expr.op == "ref"}

        def access(key, i, j):
            while key in self.aliases:
                key = self.aliases[key]
            if key in self.scalars:  # a 1×1 value lives in a local, not an array
                return str(key)
            return f"{per_sample[key]}[{i}, s]" if key in per_sample else f"{key}[{i}, {j}]"

        self.shapes = dict(program.shapes)
        self.writer = LoopWriter(PythonLoops(), access, self.shapes)

    def call(self, items) -> list[str]:
        lines = []
        for target, expr, shape, what in items:
            self.shapes[target] = shape
            if target in self.aliases:
                lines.append(f"# {what}: the same values")
                continue
            lines += [f"# {what}", *self.writer.step(target, expr, shape)]
        return lines


def _layer(key) -> int | None:
    """The layer a step belongs to: ``Z2``, ``dA2_dZ2`` and ``dC_dZ2`` to 2, ``dC_dA1`` to 1."""
    if isinstance(key, naming.Deriv):
        key = key.den if key.num == naming.C else key.num
    return key.layer


def _groups(steps):
    """Consecutive steps of one layer and one phase (forward or backward): one kernel call each."""
    out: list[list] = []
    for s in steps:
        tag = (_layer(s.key), s.role == "forward")
        if out and out[-1][0] == tag:
            out[-1][1].append(s)
        else:
            out.append((tag, [s]))
    return [group for _, group in out]


def _folded(program: Program, steps) -> dict:
    """Steps computed where they are used instead of stored: an elementwise step (no sum in it) read by
    exactly one other step, entry by entry (not through a product).  ``{key: expr}``."""
    reads: dict = {}
    for s in steps:
        for k in mx.refs(s.expr):
            reads.setdefault(k, []).append(s)
    out = {}
    for s in steps:
        users = reads.get(s.key, [])
        if (s.role in ("local", "delta") and s.shape != (1, 1) and len(users) == 1 and _entrywise(s.expr)
                and _only_entrywise(users[0].expr, s.key) and users[0].role != "gradient"):
            out[s.key] = s.expr
    return out


def _entrywise(x: mx.M) -> bool:
    return x.op not in ("dot", "colsum", "colmax", "T") and all(_entrywise(a) for a in x.args)


def _only_entrywise(x: mx.M, key) -> bool:
    """``key`` is read by ``x`` only entry by entry (never under a product, sum or transpose)."""
    if x.op == "ref":
        return True
    if x.op in ("dot", "colsum", "colmax", "T"):
        return key not in mx.refs(x)
    return all(_only_entrywise(a, key) for a in x.args)


def module_source(program: Program, cache: bool = True, optimizer=None) -> str:
    """A module with ``run``: per-sample SGD over ``order`` (or, with ``accumulate``, the gradients summed
    into ``g_*``), and the wrappers ``sgd`` and ``grad_sum``; with an ``optimizer``, each sample's step is that
    optimizer's rule over flat buffers (``_update``, printed entry by entry) and the wrapper is ``optimize``."""
    params = [p.name for p in program.params]
    pkeys = program.param_keys
    grads = [program.gradient(p) for p in program.params]
    steps = program.needed([program.cost] + [g.key for g in grads])
    kernels = Inline(program) if len(steps) <= FUSE_LIMIT else Kernels(program)
    folded = _folded(program, steps) if isinstance(kernels, Inline) else {}
    inline = set(getattr(kernels, "scalars", ())) | set(getattr(kernels, "aliases", ())) | set(folded)
    work = [s for s in steps if s.key not in pkeys and s.key not in inline]
    ind = " " * 8
    body = []
    for group in _groups(steps):
        body += kernels.call([(s.key, mx.substitute(s.expr, folded), s.shape, comment(s)) for s in group
                              if s.key not in folded])
    alloc = "\n".join(f"    {s.lhs} = np.empty({s.shape!r})" for s in work)
    if isinstance(kernels, Kernels):
        if optimizer is not None:
            raise SymbackpropError(f"per-sample {optimizer.name} is for networks of at most {FUSE_LIMIT} steps "
                                   f"({program.spec} has {len(steps)}): train it in mini-batches (--batch-size)")
        return flat_source(program, kernels, body, cache)
    apply, add = apply_and_add(program, kernels)
    args = ", ".join(params)
    gargs = ", ".join(f"g_{q}" for q in params)
    text = "\n".join(ind + line for line in body)
    upd = "\n".join(ind + "    " + line for line in apply)
    acc = "\n".join(ind + "    " + line for line in add)
    kernel_text = "\n\n".join(kernels.sources)
    extra, wrapper = "", SGD.format(args=args)
    if optimizer is not None:  # each sample's gradient into the flat all_g (g_* are views of it), then the rule
        kernel_text += updates.entrywise_source(optimizer)
        extra = ", all_P, all_g, m, v, b, D, H, t0"
        upd = "\n".join([f"{ind}    all_g[:] = 0.0", acc, f"{ind}    t0 += 1",
                         f"{ind}    _update(all_P, all_g, m, v, b, D, H, t0, lr)"])
        wrapper = OPTIMIZE.format(args=args, gargs=gargs)
    return f'''"""Per-sample gradients and the SGD loop for {program.spec} with cost {program.cost_name}, generated by
symbackprop {__version__} from its derivation: loops over each layer's dimensions. Do not edit."""

import math

import numpy as np

CACHE = {cache!r}
{HELPERS}
SPEC = {program.spec!r}
COST = {program.cost_name!r}
PARAMS = {tuple(params)!r}


{kernel_text}

@_jit
def run({args}, Xs, Ys, order, lr, every, losses, {gargs}, accumulate{extra}):
    """Per-sample SGD over the samples in ``order`` (in place), the mean cost of each ``every`` steps
    going to ``losses``; with ``accumulate`` the parameters stay and each gradient is added into g_*.
    Returns (-1 or the step at which the cost stopped being finite, the summed cost)."""
{alloc}
    window = 0.0
    total = 0.0
    left = every
    for step in range(order.shape[0]):
        s = order[step]
{text}
        cost = C
{TALLY}
        if accumulate:
{acc}
        else:
{upd}
{COUNTDOWN}


{wrapper}

def grad_sum({args}, Xs, Ys, {gargs}):
    """Add each sample's gradient into g_*; return the summed cost (samples are columns)."""
    order = np.arange(Xs.shape[1])
    return run({args}, Xs, Ys, order, 0.0, order.shape[0] + 1, np.zeros(1), {gargs}, True{_dummies(optimizer)})[1]
'''


SGD = '''
def sgd({args}, Xs, Ys, order, lr, every, losses):
    """Per-sample SGD in place; returns -1, or the step at which the cost stopped being finite."""
    gs = [np.empty((0, 0)) for _ in PARAMS]
    return run({args}, Xs, Ys, order, lr, every, losses, *gs, False)[0]
'''

OPTIMIZE = '''
def optimize({args}, Xs, Ys, order, lr, every, losses, {gargs}, all_P, all_g, m, v, b, D, H, t0):
    """Per-sample steps of the optimizer in place (the parameters and g_* views of all_P and all_g; m, v, b its
    state, empty where it keeps none; t0 the steps before); returns -1, or the step at which the cost stopped
    being finite."""
    return run({args}, Xs, Ys, order, lr, every, losses, {gargs}, False, all_P, all_g, m, v, b, D, H, t0)[0]
'''


def _dummies(optimizer) -> str:
    """The optimizer's arguments of ``run`` where a wrapper takes none (empty arrays and step 0)."""
    return "" if optimizer is None else ", *[np.empty(0)] * 6, np.empty(0), 0"
