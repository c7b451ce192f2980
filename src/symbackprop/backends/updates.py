"""An optimizer's update printed after the derived gradients: in place (NumPy, PyTorch) or as new arrays (JAX)."""

from __future__ import annotations

import sympy as sp

from ..optimizers import g, lr, p, state_key, t
from ..program import Program
from .arrays import JAX, NUMPY, TORCH, Dialect, batch_lines, lines, unpack_lines
from .printers import ScalarPython


def _updates(program: Program, optimizer, dialect: Dialect, functional: bool, indent: str) -> list[str]:
    """For every learned parameter: its state read, then each assignment of the rule under a comment with its
    equation; the parameter itself written in place (``W1[...] = …``) or, ``functional``, into ``new``."""
    printer = dialect.printer()
    out = []
    for q in (q for q in program.params if not q.state):
        name = q.name
        names = {p: sp.Symbol(name), g: sp.Symbol(f"g_{name}"), t: sp.Symbol("t"), lr: sp.Symbol("lr")}
        names.update({sp.Symbol(k, real=True): sp.Symbol(state_key(k, name)) for k in optimizer.state})
        out += [f'{state_key(k, name)} = state["{state_key(k, name)}"]' for k in optimizer.state]
        shown = dict(optimizer.equations(q.penalised))
        for target, expr in optimizer.numeric(q.penalised):
            code = printer.doprint(expr.xreplace(names))
            out.append(f"# {names[target]} ← {shown[target].xreplace(names)}")
            if target == p:
                out.append(f'new["{name}"] = {code}' if functional else f"{name}[...] = {code}")
            else:
                out.append(f'{names[target]} = new_state["{names[target]}"] = {code}' if functional else
                           f'{names[target]} = state["{names[target]}"] = {code}')
    return [indent + line for line in out]


CLIP = {"numpy": "min(1.0, {c} / (math.sqrt({total}) + 1e-6))",
        "torch": "torch.clamp({c} / (torch.sqrt({total}) + 1e-6), max=1.0)",
        "jax": "jnp.minimum(1.0, {c} / (jnp.sqrt({total}) + 1e-6))"}


def _schedule_lines(program: Program, optimizer, dialect: Dialect, indent: str) -> list[str]:
    """The learning rate's factor at step t (``lr = lr * …``) and the clipping of all gradients together."""
    sc, out = optimizer.schedule, []
    factor = sc.factor()
    if factor != 1:  # t is a Python int on NumPy and PyTorch (math), traced on JAX (jnp)
        printer = dialect.printer() if dialect is JAX else ScalarPython()
        out += [f"# lr ← lr·{factor}", f"lr = lr * ({printer.doprint(factor)})"]
    if sc.clip_norm is not None:
        names = [f"g_{q.name}" for q in program.params if not q.state]
        total = " + ".join(f"({n}**2).sum()" for n in names)
        out += [f"# the gradients of all parameters together clipped to norm {sc.clip_norm:g} at most",
                f"clip = {CLIP[dialect.name].format(c=repr(sc.clip_norm), total=total)}",
                *(f"{n} = {n} * clip" for n in names)]
    return [indent + line for line in out]


def _gradient_lines(program: Program, dialect: Dialect, indent: str) -> list[str]:
    """The batch's cost and derived gradients, then each learned parameter's mean gradient ``g_W1``."""
    grads = {q.name: program.gradient(q) for q in program.params}
    steps = program.needed([program.cost] + [s.key for s in grads.values()])
    out = lines(program, steps, dialect, indent)
    out += [f"{indent}g_{q.name} = {grads[q.name].lhs} / m  # the mean gradient of {q.name}" for q in program.params
            if not q.state]
    return out


def in_place_source(program: Program, optimizer, dialect: Dialect = NUMPY, prefix: str = "") -> str:
    """``optimizer_step(params, state, X, Y, lr)`` for NumPy or PyTorch: the batch's forward pass and derived
    gradients, then the update of every learned parameter, in place on ``params`` and ``state`` (``state["t"]``:
    the steps taken; ``state["m_W1"]``, ...: the optimizer's variables, 0 to start).  Returns the mean cost before
    the step."""
    torch = dialect is TORCH
    pad = "        " if torch else "    "
    indent = lambda text: "\n".join(pad[4:] + line if line else line for line in text.splitlines())  # noqa: E731
    body = [indent(unpack_lines(program)), indent(batch_lines(program, dialect)),
            *_gradient_lines(program, dialect, pad), f'{pad}t = state["t"] = state["t"] + 1',
            *_schedule_lines(program, optimizer, dialect, pad), *_updates(program, optimizer, dialect, False, pad)]
    nl = "\n"
    opening = "    with torch.no_grad():\n" if torch else ""
    return f'''

import math


def {prefix}optimizer_step(params, state, X, Y, lr):
    """One step of {optimizer.summary()} on the batch (X, Y), in place on params and state; the mean cost before it.

    state["t"] counts the steps; state["m_W1"], ... are the optimizer's variables (0 to start)."""
{opening}{nl.join(body)}
    return C / m
'''


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
{nl.join(_updates(program, optimizer, JAX, True, "    "))}
    return new, new_state, c
'''
