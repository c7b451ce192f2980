"""The per-sample printer of a Program for numba: loops over each layer's dimensions, one compiled loop."""

from __future__ import annotations

import sympy as sp

from .. import __version__, naming
from .. import matexpr as mx
from ..errors import SymbackpropError
from ..program import Program
from . import updates
from .loops import LoopWriter, Syntax, comment
from .printers import ScalarPython

HELPERS = '''
try:
    from numba import njit
    _jit = njit(cache=CACHE, nogil=True)
    NUMBA = True
except ImportError:  # fall back to plain Python; symbackprop says so once
    def _jit(func):
        return func
    NUMBA = False


@_jit
def _logistic(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@_jit
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))
'''


class PythonLoops(Syntax):
    printer = ScalarPython()


FUSE_LIMIT = 40  # steps; up to this many the loops are written in one function (measured: see the README)


class Kernels:
    """One small compiled function per group of steps (a layer's forward pass, its backward pass) over one
    flat buffer of values; layers of the same kind and size share one, so compile time grows with the kinds
    of layers, not with depth.  ``offsets`` places every parameter, value and gradient in the buffer."""

    def __init__(self, program: Program):
        self.program, self.sources, self.names = program, [], {}
        self.offsets: dict = {}
        self.arity: dict[int, int] = {}
        self.size = 0

    def place(self, key, shape) -> int:
        if key not in self.offsets:
            self.offsets[key] = self.size
            self.size += shape[0] * shape[1]
        return self.offsets[key]

    def call(self, items) -> list[str]:
        """The kernel computing each ``(target, expr, shape, what)`` (defined if new), and the call."""
        program = self.program
        shapes = {**program.shapes, **{t: shape for t, _, shape, _ in items}}
        slot: dict = {}
        for target, expr, _, _ in items:
            for k in [target, *mx.refs(expr)]:
                if k not in (program.input.key, program.target.key):
                    slot.setdefault(k, f"o{len(slot)}")
                    self.place(k, shapes[k])

        def access(key, i, j):
            if key in (program.input.key, program.target.key):
                return f"{_array_name(program, key)}[{i}, s]"
            cols = shapes[key][1]
            at = [slot[key]] + ([i] if i != "0" else []) if cols == 1 else \
                [slot[key]] + ([f"{i}*{cols}"] if i != "0" else []) + ([j] if j != "0" else [])
            return f"buf[{' + '.join(at)}]"

        writer = LoopWriter(PythonLoops(), access, shapes)
        lines = [line for target, expr, shape, _ in items for line in writer.step(target, expr, shape)]
        params = ", ".join(["buf", *slot.values(), "Xs", "Ys", "s", "lr"])
        body = "\n".join("    " + line for line in lines)
        text = f"def {{name}}({params}):\n{body}\n"
        if text not in self.names:
            self.names[text] = f"_k{len(self.names)}"
            note = "".join(f"# {what}\n" for *_, what in items)
            self.sources.append(note + "@_jit\n" + text.format(name=self.names[text]))
        number = int(self.names[text][2:])
        self.arity[number] = len(slot)
        row = [number, *(self.offsets[k] for k in slot)]
        return [(row, "; ".join(what for *_, what in items))]


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


def _array_name(program, key) -> str:
    return {program.input.key: "Xs", program.target.key: "Ys"}.get(key, str(key))


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


# The bookkeeping of every generated loop: stop at a non-finite cost, add it up, record a point every ``every``.
_TALLY = """        if not math.isfinite(cost) and not accumulate:
            return step, total
        window += cost
        total += cost"""
_COUNTDOWN = """        left -= 1
        if left == 0:  # a countdown, not a modulo: no division in the loop
            losses[(step + 1) // every - 1] = window / every
            window = 0.0
            left = every
    return -1, total"""


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
        return _flat_source(program, kernels, body, cache)
    apply, add = _updates(program, kernels)
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
{_TALLY}
        if accumulate:
{acc}
        else:
{upd}
{_COUNTDOWN}


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


_LR, _G, _P = (sp.Symbol(n, real=True) for n in ("lr", "g", "p"))


def _gkey(param):
    """The accumulator of a parameter's gradient in ``grad_sum`` (``g_W1``)."""
    return naming.Key(f"g_{param.key.base}", param.key.layer)


def _plan(rows) -> str:
    """A plan as a NumPy array literal, one row (kernel, offsets...) per call, with the equations it computes."""
    width = max(len(row) for row, _ in rows)
    lines = [f"    {row + [0] * (width - len(row))!r},  # {what}" for row, what in rows]
    return "np.array([\n" + "\n".join(lines) + "\n], dtype=np.int64)"


def _updates(program: Program, kernels) -> tuple[list, list]:
    """The lines that apply each layer's gradients (``W1 -= lr * dC_dW1``) and that add them up (``g_W1 +=``)."""
    grads = [program.gradient(p) for p in program.params]
    apply, add = [], []
    for layer in dict.fromkeys(p.key.layer for p in program.params):
        ps = [(p, g) for p, g in zip(program.params, grads) if p.key.layer == layer]
        step = mx.ScalarFn("step", _P - _LR * _G, (_P, _G))
        apply += kernels.call([(p.key, mx.fn(step, mx.ref(p.key, p.shape), mx.ref(g.key, g.shape)), p.shape,
                                f"{p.name} -= lr * {g.lhs}") for p, g in ps])
        add += kernels.call([(_gkey(p), mx.add(mx.ref(_gkey(p), p.shape), mx.ref(g.key, g.shape)), p.shape,
                              f"g_{p.name} += {g.lhs}") for p, g in ps])
    return apply, add


def _flat_source(program: Program, kernels: Kernels, body, cache: bool) -> str:
    """The module for a deep network: ``run`` follows a plan of kernel calls (one per layer phase) on one
    flat buffer, so its code does not grow with depth."""
    params = [p.name for p in program.params]
    update, add = _updates(program, kernels)
    args = ", ".join(params)
    gargs = ", ".join(f"g_{q}" for q in params)
    layout = {p.name: (kernels.offsets[p.key], p.shape) for p in program.params}
    offsets = {p.name: kernels.offsets[_gkey(p)] for p in program.params}
    dispatch = "\n".join(
        f"        {'if' if k == 0 else 'elif'} k == {k}:\n"
        f"            _k{k}(buf, {', '.join(f'plan[g, {n + 1}]' for n in range(kernels.arity[k]))}, Xs, Ys, s, lr)"
        for k in sorted(kernels.arity))
    kernel_text = "\n\n".join(kernels.sources)
    return f'''"""Per-sample gradients and the SGD loop for {program.spec} with cost {program.cost_name}, generated by
symbackprop {__version__} from its derivation: a plan of kernel calls (one per layer phase; layers alike share a
kernel) over one flat buffer, so that the code does not grow with depth. Do not edit."""

import math

import numpy as np

CACHE = {cache!r}
{HELPERS}
SPEC = {program.spec!r}
COST = {program.cost_name!r}
PARAMS = {tuple(params)!r}
LAYOUT = {layout!r}  # parameter: (offset in the buffer, shape)
GRADS = {offsets!r}  # parameter: offset of its summed gradient
SIZE = {kernels.size}
COST_AT = {kernels.offsets[program.cost]}

# Each row: the kernel, then the offsets of what it reads and writes.
FORWARD_BACKWARD = {_plan(body)}
UPDATE = {_plan(update)}
ACCUMULATE = {_plan(add)}


{kernel_text}

@_jit
def _follow(plan, buf, Xs, Ys, s, lr):
    """Call each kernel of ``plan`` in turn."""
    for g in range(plan.shape[0]):
        k = plan[g, 0]
{dispatch}


@_jit
def run(buf, Xs, Ys, order, lr, every, losses, accumulate, forward_backward, update, add):
    """Per-sample SGD over the samples in ``order`` on the values in ``buf``, the mean cost of each ``every``
    steps going to ``losses``; with ``accumulate`` each gradient is added up instead.
    Returns (-1 or the step at which the cost stopped being finite, the summed cost)."""
    window = 0.0
    total = 0.0
    left = every
    for step in range(order.shape[0]):
        s = order[step]
        _follow(forward_backward, buf, Xs, Ys, s, lr)
        cost = buf[COST_AT]
{_TALLY}
        _follow(add if accumulate else update, buf, Xs, Ys, s, lr)
{_COUNTDOWN}


def _pack(arrays):
    buf = np.zeros(SIZE)
    for (offset, _), a in zip(LAYOUT.values(), arrays):
        buf[offset:offset + a.size] = a.ravel()
    return buf


def sgd({args}, Xs, Ys, order, lr, every, losses):
    """Per-sample SGD in place; returns -1, or the step at which the cost stopped being finite."""
    arrays = ({args},)
    buf = _pack(arrays)
    failed = run(buf, Xs, Ys, order, lr, every, losses, False, FORWARD_BACKWARD, UPDATE, ACCUMULATE)[0]
    for (offset, shape), a in zip(LAYOUT.values(), arrays):
        a[...] = buf[offset:offset + a.size].reshape(shape)
    return failed


def grad_sum({args}, Xs, Ys, {gargs}):
    """Add each sample's gradient into g_*; return the summed cost (samples are columns)."""
    buf = _pack(({args},))
    order = np.arange(Xs.shape[1])
    total = run(buf, Xs, Ys, order, 0.0, order.shape[0] + 1, np.zeros(1), True, FORWARD_BACKWARD, UPDATE,
                ACCUMULATE)[1]
    for offset, g in zip(GRADS.values(), ({gargs},)):
        g += buf[offset:offset + g.size].reshape(g.shape)
    return total
'''
