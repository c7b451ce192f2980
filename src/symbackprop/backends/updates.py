"""An optimizer's update printed after the derived gradients: in place (NumPy, PyTorch), per parameter or once over
flat buffers that hold every parameter, or as new arrays (JAX).

A rule's assignment ``T ← a·T + b`` (every rule here is linear in its target) prints as ``T *= a`` and ``T += b``,
with the factors that hold no array (``lr / (1 - β₁ᵗ)``) computed first as numbers: a few whole-array operations
each, not one per node of the expression.
"""

from __future__ import annotations

import sympy as sp

from .. import __version__
from ..optimizers import b as momentum
from ..optimizers import g, lam, lr, m, p, state_key, t, v
from ..program import Program
from .arrays import batch_lines, lines, unpack_lines
from .dialects import JAX, NUMPY, TORCH, Dialect
from .printers import ScalarPython

FLAT = "all_{}"  # the flat buffers: all_P (every learned parameter), all_g (their summed gradients), all_m, ...


def flat_layout(network) -> list[tuple[str, int, int, tuple]]:
    """``(name, start, stop, shape)`` of each learned parameter in the flat buffers, in the network's order."""
    out, start = [], 0
    for q in network.params:
        if not q.state:
            out.append((q.name, start, start + q.size, tuple(q.shape)))
            start += q.size
    return out


def flat_state(network, optimizer, params: dict, zeros) -> dict:
    """The optimizer's state over flat buffers (``zeros(n, like)`` makes one): ``all_P``, ``all_g``, one per state
    variable (``all_m``...) and AdamW's ``all_decay`` (λ on the weights, 0 elsewhere), with each parameter's part
    as a view (``g_W1``, ``m_W1``); the learned entries of ``params`` become views of ``all_P`` (the dict changes
    in place)."""
    layout = flat_layout(network)
    like, n = params[layout[0][0]], layout[-1][2]
    state = {"t": 0, **{FLAT.format(k): zeros(n, like) for k in ("P", "g", *optimizer.state)}}
    penalised = {q.name for q in network.params if q.penalised}
    if optimizer.decoupled:
        state[FLAT.format("decay")] = zeros(n, like)
    for name, start, stop, shape in layout:
        view = state[FLAT.format("P")][start:stop].reshape(shape)
        view[...] = params[name]
        params[name] = view
        for kind in ("g", *optimizer.state):  # g_W1: where the step writes W1's summed gradient
            state[state_key(kind, name)] = state[FLAT.format(kind)][start:stop].reshape(shape)
        if optimizer.decoupled and name in penalised:
            state[FLAT.format("decay")][start:stop] = dict(optimizer.values)["lambda"]
    return state


def restore_state(state: dict, saved: dict) -> None:
    """Write a saved optimizer state (``t`` and each parameter's ``m_W1``...) into a flat state, in place."""
    for key, value in saved.items():
        if key == "t":
            state["t"] = int(value)
        else:
            state[key][...] = state[key].new_tensor(value) if hasattr(state[key], "new_tensor") else value


class _Hoist:
    """Replaces the parts of an expression that hold no array by names ``_c1``, ``_c2``, ... and keeps their
    assignments (numbers, computed once a step: the step count t and the learning rate are numbers); a part met
    again reuses its name."""

    def __init__(self, arrays: set, scalar_printer):
        self.arrays, self.printer, self.lines, self.names = arrays, scalar_printer, [], {}

    def __call__(self, e: sp.Expr) -> sp.Expr:
        if not (e.free_symbols & self.arrays):
            if e.is_Atom:
                return e
            if e not in self.names:
                self.names[e] = sp.Symbol(f"_c{len(self.lines) + 1}")
                self.lines.append(f"{self.names[e]} = {self.printer.doprint(e)}")
            return self.names[e]
        if e.is_Mul or e.is_Add:
            inner, outer = e.as_independent(*self.arrays, as_Add=e.is_Add)
            parts = [self(a) for a in (sp.Add.make_args(outer) if e.is_Add else sp.Mul.make_args(outer))]
            return e.func(self(inner), *parts)
        return e.func(*[self(a) for a in e.args]) if e.args else e


def _rule_lines(optimizer, names: dict, dialect: Dialect, in_place: bool, flat: bool,
                decayed: bool = True) -> list[str]:
    """Each assignment of the rule under a comment with its equation: in place (``T *= a``, ``T -= b``) or, for
    JAX, a new array (``new_T = …``); ``names`` maps the rule's symbols (p, g, m, ...) to code names."""
    printer, scalars = dialect.printer(), (dialect.printer() if dialect is JAX else ScalarPython())
    # the array names; not the batch size m, a number (over flat buffers g is all_g / m)
    arrays = {y for k in (p, g, m, v, momentum, lam) if k in names for y in names[k].free_symbols} - {sp.Symbol("m")}
    arrays -= set() if flat else {names[lam]}
    hoist = _Hoist(arrays, scalars)
    shown = dict(optimizer.equations(flat or decayed))  # the comments: in symbols (λ an array over flat buffers)
    words = {k: n for k, n in names.items() if flat or k != lam}
    out = []
    for target, expr in _numeric(optimizer, flat, names, decayed):
        out.append(f"# {names[target]} ← {shown[target].xreplace(words)}")
        start, T = len(hoist.lines), names[target]
        if not in_place:
            code = printer.doprint(hoist(expr))
            out += hoist.lines[start:] + [f"{T} = {code}"]
            continue
        a = sp.diff(expr, T)
        if T in a.free_symbols:  # not linear in its target (no rule here): the whole value, written back
            code = printer.doprint(hoist(expr))
            out += hoist.lines[start:] + [f"{T}[...] = {code}"]
            continue
        rest = expr.xreplace({T: 0})
        steps = [] if a == 1 else [f"{T} *= {printer.doprint(hoist(a))}"]
        fused = _fused(T, rest, hoist, printer) if dialect is TORCH and rest != 0 else None
        if fused:
            steps.append(fused)
        elif rest != 0:
            sign, rest = ("-", -rest) if rest.could_extract_minus_sign() else ("+", rest)
            steps.append(f"{T} {sign}= {printer.doprint(hoist(rest))}")
        out += hoist.lines[start:] + steps
    return out


def _fused(T, rest: sp.Expr, hoist: _Hoist, printer) -> str | None:
    """PyTorch's one-call accumulations, as ``torch.optim`` uses them: ``T += c·x`` is ``T.add_(x, alpha=c)``,
    ``T += c·x·y`` ``T.addcmul_(x, y, value=c)``, ``T += c·x/y`` ``T.addcdiv_(x, y, value=c)`` (c a number);
    None for another form."""
    c, dep = rest.as_independent(*hoist.arrays)
    tops, bottoms = [], []
    for f in sp.Mul.make_args(dep):
        if f.is_Pow and f.exp == -1:
            bottoms.append(f.base)
        elif f.is_Pow and f.exp == 2:
            tops += [f.base, f.base]
        else:
            tops.append(f)
    scale = printer.doprint(hoist(c))
    code = [printer.doprint(hoist(x)) for x in tops] + [_shifted(x, hoist, printer) for x in bottoms]
    if len(tops) == 1 and not bottoms:
        return f"{T}.add_({code[0]}, alpha={scale})"
    if len(tops) == 2 and not bottoms:
        return f"{T}.addcmul_({code[0]}, {code[1]}, value={scale})"
    if len(tops) == 1 and len(bottoms) == 1:
        return f"{T}.addcdiv_({code[0]}, {code[1]}, value={scale})"
    return None


def _shifted(x: sp.Expr, hoist: _Hoist, printer) -> str:
    """``torch.sqrt(v).add_(c)``: a number added in place to a new tensor (one allocation fewer than ``+``)."""
    c, rest = x.as_independent(*hoist.arrays, as_Add=True)
    if c == 0 or rest.is_Symbol:
        return printer.doprint(hoist(x))
    return f"{printer.doprint(hoist(rest))}.add_({printer.doprint(hoist(c))})"


def _numeric(optimizer, flat: bool, names: dict, decayed: bool) -> list[tuple[sp.Symbol, sp.Expr]]:
    """The rule with the hyperparameters' numbers in and the code's names: over flat buffers AdamW's λ stays a
    symbol (the array ``all_decay``); per parameter it is λ, or 0 where not ``decayed``."""
    values = {sp.Symbol(k, positive=True): sp.Float(x) for k, x in optimizer.values if not (flat and k == "lambda")}
    return [(k, e.subs(values).xreplace(names)) for k, e in optimizer.equations(flat or decayed)]


def _names(name: str, optimizer, gradient: str) -> dict:
    out = {p: sp.Symbol(name), g: sp.Symbol(gradient), t: sp.Symbol("t"), lr: sp.Symbol("lr"),
           lam: sp.Symbol(FLAT.format("decay"))}
    out.update({sp.Symbol(k, real=True): sp.Symbol(state_key(k, name)) for k in optimizer.state})
    return out


def _per_parameter(program: Program, optimizer, dialect: Dialect, functional: bool, indent: str) -> list[str]:
    """For every learned parameter: its state read, then its rule; written in place or into ``new``."""
    out = []
    for q in (q for q in program.params if not q.state):
        names = _names(q.name, optimizer, f"g_{q.name}")
        out += [f'{state_key(k, q.name)} = state["{state_key(k, q.name)}"]' for k in optimizer.state]
        out += _rule_lines(optimizer, names, dialect, not functional, False, q.penalised)
        if functional:
            out += [f'new["{q.name}"] = {q.name}'] + [f'new_state["{state_key(k, q.name)}"] = {state_key(k, q.name)}'
                                                      for k in optimizer.state]
    return [indent + line for line in out]


def _flat(program: Program, optimizer, dialect: Dialect, indent: str, kernel: bool = False) -> list[str]:
    """The rule once, over the flat buffers ``all_P``, ``all_g`` (summed gradients: g is all_g / m), ``all_m``,
    ... (the parameters are views of ``all_P``); ``kernel``: its equations as comments, then one call of the
    module's ``_update`` (``kernel_source``: the same rule entry by entry, compiled by numba)."""
    names = _names(FLAT.format("P"), optimizer, FLAT.format("g"))
    names[g] = sp.Symbol(FLAT.format("g")) / sp.Symbol("m")
    names.update({sp.Symbol(k, real=True): sp.Symbol(FLAT.format(k)) for k in optimizer.state})
    reads = [f'{FLAT.format(k)} = state["{FLAT.format(k)}"]' for k in ("P", "g", *optimizer.state)]
    reads += [f'{FLAT.format("decay")} = state["{FLAT.format("decay")}"]'] if optimizer.decoupled else []
    if not kernel:
        return [indent + line for line in reads + _rule_lines(optimizer, names, dialect, True, True)]
    kept = ("P", "g", *optimizer.state, *(["decay"] if optimizer.decoupled else []))
    args = [FLAT.format(k) if k in kept else "_NONE" for k in ("P", "g", "m", "v", "b", "decay")]
    comments = [f"# {names[target]} ← {expr.xreplace(names)}" for target, expr in optimizer.equations(True)]
    call = "_update({}, _H, t, lr, m)  # the lines above, entry by entry (compiled by numba)"
    if dialect is not TORCH:
        return [indent + line for line in reads + comments + [call.format(", ".join(args))]]
    host = ['host = state.get("host")  # the buffers\' memory as arrays (CPU tensors: no copy), made once',
            "if host is None:",
            f'    host = state["host"] = ({", ".join(a if a == "_NONE" else a + ".numpy()" for a in args)})']
    return [indent + line for line in reads + comments + host + [call.format("*host")]]


def kernel_globals(optimizer) -> str:
    """The module lines a step with ``kernel`` needs: the hyperparameters as ``_H`` (the order ``_update`` reads),
    an empty array for the state the rule does not keep, and ``_update`` (bound by the backend)."""
    held = ", ".join(k for k, _ in optimizer.values)
    return (f"\n_H = np.array({[x for _, x in optimizer.values]!r}, dtype=float)  # {held}\n"
            "_NONE = np.empty(0)  # the state this rule does not keep\n"
            "_update = None  # the rule entry by entry: updates.kernel_source's, bound when the module is made\n")


def entrywise_source(optimizer, mean: bool = False) -> str:
    """``_update(P, g, m, v, b, D, H, t, lr)`` for numba: the rule entry by entry over flat buffers (P the
    parameters, g their gradients, m, v, b the state variables the rule keeps, D AdamW's λ per entry), with the
    hyperparameters read from ``H`` (in ``optimizer.values`` order) and the number factors computed once;
    ``mean``: g holds gradients summed over a batch of ``n`` samples (a last argument), the rule's g is g / n."""
    names = {p: sp.Symbol("P[i]"), g: sp.Symbol("g[i]"), t: sp.Symbol("t"), lr: sp.Symbol("lr"),
             lam: sp.Symbol("D[i]"), m: sp.Symbol("m[i]"), v: sp.Symbol("v[i]"), momentum: sp.Symbol("b[i]")}
    names.update({sp.Symbol(k, positive=True): sp.Symbol(f"H[{j}]") for j, (k, _) in enumerate(optimizer.values)
                  if k != "lambda"})
    printer = ScalarPython()
    hoist = _Hoist({names[k] for k in (p, g, m, v, momentum, lam)}, printer)
    if mean:
        names[g] = names[g] / sp.Symbol("n")
    body = []
    for target, expr in optimizer.equations(True):
        code = printer.doprint(hoist(expr.xreplace(names)))
        body += [f"        # {target} ← {expr}", f"        {names[target]} = {code}"]
    nl = "\n"
    scalars = nl.join("    " + line for line in hoist.lines)
    held = ", ".join(k for k, _ in optimizer.values) or "nothing"
    args, over = (", n", " (g: summed over n samples)") if mean else ("", "")
    return f'''

@_jit
def _update(P, g, m, v, b, D, H, t, lr{args}):
    """{optimizer.name}'s rule, entry by entry, at step t{over}: H holds {held}."""
{scalars}
    for i in range(P.shape[0]):
{nl.join(body)}
'''


def kernel_source(optimizer, cache: bool = True) -> str:
    """A module of one numba function, ``_update(P, g, m, v, b, D, H, t, lr, n)``: the rule entry by entry over
    the flat buffers of a mini-batch step (g summed over the batch's n samples), one pass over memory where the
    array operations make a dozen; NumPy's error model (a division by 0 is inf, as in the array code), which lets
    the loop vectorise. ``NUMBA`` False: numba is missing (the step prints the array operations instead)."""
    return f'''"""The update rule of {optimizer.name}, entry by entry over flat buffers, for numba: generated by
symbackprop {__version__} from the rule's equations. Do not edit."""

import math

try:
    from numba import njit
    _jit = njit(cache={cache!r}, nogil=True, error_model="numpy")
    NUMBA = True
except ImportError:
    def _jit(func):
        return func
    NUMBA = False
{entrywise_source(optimizer, mean=True)}'''


def c_rule(optimizer, params, printer) -> list[tuple]:
    """For the C export, per learned parameter q: (q, its number factors as ``_c1 = …`` lines, one statement of
    the rule's assignments for the entry at ``{at}``), with the hyperparameters as numbers, AdamW's λ on the weights
    only, and the state in ``s->m.W1{at}``..."""
    kinds = {"m": m, "v": v, "b": momentum}
    out, hoist = [], _Hoist(set(), printer)  # one for the function: a factor met again is not computed again
    for q in params:
        names = {p: sp.Symbol(f"p->{q.name}{{at}}"), g: sp.Symbol(f"g.{q.name}{{at}}"), t: sp.Symbol("t"),
                 lr: sp.Symbol("lr"), **{kinds[k]: sp.Symbol(f"s->{k}.{q.name}{{at}}") for k in optimizer.state}}
        hoist.arrays = {names[k] for k in (p, g, *[kinds[k] for k in optimizer.state])}
        start = len(hoist.lines)
        statement = " ".join(f"{names[target]} = {printer.doprint(hoist(expr))};"
                             for target, expr in _numeric(optimizer, False, names, q.penalised))
        out.append((q, hoist.lines[start:], statement))
    return out


CLIP = {"numpy": "min(1.0, {c} / (math.sqrt({total}) + 1e-6))",
        "torch": "torch.clamp({c} / (torch.sqrt({total}) + 1e-6), max=1.0)",
        "jax": "jnp.minimum(1.0, {c} / (jnp.sqrt({total}) + 1e-6))"}


def _schedule_lines(program: Program, optimizer, dialect: Dialect, indent: str, flat: bool = False) -> list[str]:
    """The learning rate's factor at step t (``lr = lr * …``) and the clipping of all gradients together."""
    sc, out = optimizer.schedule, []
    factor = sc.factor()
    if factor != 1:  # t is a Python int on NumPy and PyTorch (math), traced on JAX (jnp)
        printer = dialect.printer() if dialect is JAX else ScalarPython()
        out += [f"# lr ← lr·{factor}", f"lr = lr * ({printer.doprint(factor)})"]
    if sc.clip_norm is not None:
        names = [FLAT.format("g")] if flat else [f"g_{q.name}" for q in program.params if not q.state]
        total = " + ".join(dialect.inner.format(n, n) for n in names) + (" / (m * m)" if flat else "")
        out += [f'{FLAT.format("g")} = state["{FLAT.format("g")}"]'] if flat else []
        out += [f"# the gradients of all parameters together clipped to norm {sc.clip_norm:g} at most",
                f"clip = {CLIP[dialect.name].format(c=repr(sc.clip_norm), total=total)}",
                *(f"{n} *= clip" if dialect is not JAX else f"{n} = {n} * clip" for n in names)]
    return [indent + line for line in out]


def _gradient_lines(program: Program, dialect: Dialect, indent: str, flat: bool) -> list[str]:
    """The derived gradients, the cost when asked for (``cost``), then each learned parameter's mean gradient
    ``g_W1``; ``flat``: each summed gradient written into its part of ``all_g`` (the rule divides by m)."""
    grads = {q.name: program.gradient(q) for q in program.params}
    backward = program.needed([s.key for s in grads.values()])
    into = {grads[name].key: f'state["{state_key("g", name)}"]' for name, *_ in flat_layout(program)} if flat \
        else None
    out = lines(program, backward, dialect, indent, into)
    out += [f"{indent}C = None", f"{indent}if cost:  # from the values above, before the step"]
    out += lines(program, [s for s in program.needed([program.cost]) if s not in backward], dialect, indent + "    ")
    if flat:
        return out
    return out + [f"{indent}g_{q.name} = {grads[q.name].lhs} / m  # the mean gradient of {q.name}"
                  for q in program.params if not q.state]


def in_place_source(program: Program, optimizer, dialect: Dialect = NUMPY, prefix: str = "",
                    flat: bool = False, kernel: bool = False) -> str:
    """``optimizer_step(params, state, X, Y, lr, cost=True)`` for NumPy or PyTorch: the batch's forward pass and
    derived gradients, then the update of every learned parameter, in place on ``params`` and ``state``
    (``state["t"]``: the steps taken; ``state["m_W1"]``, ...: the optimizer's variables, 0 to start).  Returns the
    mean cost before the step (None with ``cost=False``).  ``flat``: the update runs once over flat buffers
    (``flat_state`` makes them, with the parameters as views), a few operations in all instead of a few each;
    ``kernel`` (with ``flat``; on the CPU): the update is one call of the rule compiled by numba
    (``kernel_source``), bound to the module's ``_update``."""
    torch = dialect is TORCH
    pad = "        " if torch else "    "
    indent = lambda text: "\n".join(pad[4:] + line if line else line for line in text.splitlines())  # noqa: E731
    update = _flat(program, optimizer, dialect, pad, kernel) if flat else _per_parameter(program, optimizer, dialect,
                                                                                   False, pad)
    rule = [f'{pad}t = state["t"] = state["t"] + 1', *_schedule_lines(program, optimizer, dialect, pad, flat), *update]
    body = [indent(unpack_lines(program)), indent(batch_lines(program, dialect)),
            *_gradient_lines(program, dialect, pad, flat), *rule]
    nl = "\n"
    opening = "    with torch.no_grad():\n" if torch else ""
    where = (' over flat buffers: the parameters are views of state["all_P"] (flat_state)' if flat else "")
    alone = f'''

def {prefix}optimizer_update(params, state, m, lr):
    """The update alone, from every gradient summed over a batch of m already in state["all_g"] (its views
    state["g_W1"], ...): the step of a batch split in shares over threads (backends/shares.py)."""
{opening}{nl.join(rule)}
''' if flat and not torch else ""  # NumPy's: what training splits (the PyTorch backend runs its own steps)
    return f'''

import math
{kernel_globals(optimizer) if kernel else ""}

def {prefix}optimizer_step(params, state, X, Y, lr, cost=True):
    """One step of {optimizer.summary()} on the batch (X, Y), in place on params and state{where}; the mean cost
    before it (None with cost=False).

    state["t"] counts the steps; state["m_W1"], ... are the optimizer's variables (0 to start)."""
{opening}{nl.join(body)}
    return None if C is None else C / m
{alone}'''


def functional_source(program: Program, optimizer, prefix: str = "") -> str:
    """``optimizer_step(params, state, X, Y, lr) -> (new params, new state, mean cost)`` for JAX: jittable, the
    derived gradients (``loss_and_grads``) then the rule; ``new`` holds the learned parameters only."""
    grads = [f'    g_{q.name} = grads["{q.name}"]' for q in program.params if not q.state]
    reads = [f'    {q.name} = params["{q.name}"]' for q in program.params if not q.state]
    nl = "\n"
    return f'''

def {prefix}optimizer_step(params, state, X, Y, lr):
    """(new params, new state, mean cost before the step): one step of {optimizer.summary()}; jittable.

    state["t"] counts the steps; state["m_W1"], ... are the optimizer's variables (0 to start)."""
    c, grads = {prefix}loss_and_grads(params, X, Y)
{nl.join(reads)}
{nl.join(grads)}
    t = state["t"] + 1
    new, new_state = {{}}, {{"t": t}}
{nl.join(_schedule_lines(program, optimizer, JAX, "    "))}
{nl.join(_per_parameter(program, optimizer, JAX, True, "    "))}
    return new, new_state, c
'''
