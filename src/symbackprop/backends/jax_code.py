"""The JAX printer of a Program: jittable functions over ``jax.numpy`` arrays, and a ``jax.custom_vjp`` network."""

from __future__ import annotations

from .. import __version__
from .. import matexpr as mx
from ..program import Program
from .arrays import batch_lines, core_functions, helpers_for, layout_note, split_pullback, unpack_lines
from .dialects import JAX

HELPERS = '''

def _step(x):
    """The step function H(x) (H(0) = 0) in x's own dtype."""
    return (x > 0).astype(x.dtype)
'''


def module_source(program: Program, upstream: Program, prefix: str = "") -> str:
    """A standalone module importing only JAX and NumPy (samples are columns, as in the derivation):
    ``forward``, ``predict``, ``cost``, ``loss_and_grads`` (the derived gradients, no ``jax.grad``), a jittable
    ``sgd_step``, and ``network(params, X)``, a ``jax.custom_vjp`` function whose backward is the derived VJP
    (``upstream`` is the Program swept with an upstream gradient as its target); each name after ``prefix``."""
    unpack = unpack_lines(upstream)  # the exported layer predicts: the network without dropout
    out_key = upstream.output.key  # the logits where the output is logistic or softmax
    pull_fwd, saved, pull_back = split_pullback(upstream, JAX)
    saved_dict = ", ".join(f'"{k}": {k}' for k in saved)
    unsave = "\n".join(f'    {k} = saved["{k}"]' for k in saved)
    vjp_grads = ", ".join(f'"{p.name}": {upstream.gradient(p).lhs}' for p in upstream.params)
    input_grad = ("(dC_dX.reshape(given) if len(given) == 2 else dC_dX.transpose(3, 0, 1, 2))"
                  if mx.is_tensor(upstream.input.shape) else "dC_dX.reshape(given)" if upstream.positions
                  else "dC_dX")  # a sequence's ids are not learned: 0 in their shape
    nl = "\n"
    layout = layout_note(prefix)
    return f'''"""Forward pass and derived gradients of {program.spec} with cost {program.cost_name} for JAX, generated
by symbackprop {__version__} from its derivation{layout}. Do not edit.

Every function is jittable; none calls jax.grad: the gradients are the derived ones, line by line."""

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

SPEC = {program.spec!r}
COST = {program.cost_name!r}
SHAPES = {dict((p.name, p.shape) for p in program.params)!r}
{HELPERS}{helpers_for(program, JAX)}

{core_functions(program, JAX, "loss_and_grads", prefix)}

{prefix}gradients = {prefix}loss_and_grads


def {prefix}sgd_step(params, X, Y, lr):
    """(new params, mean cost before the step): one step of gradient descent on the batch; jittable."""
    c, grads = {prefix}loss_and_grads(params, X, Y)
    return {{k: params[k] - lr * grads[k] for k in grads}}, c  # params may carry dropout masks: not updated


def _network_fwd(params, X):
    """The output layer, and what the derived backward reads."""
{unpack}
    given = X  # the backward reads X as given (its shape is the cotangent's)
{batch_lines(upstream, JAX, targets=False)}
{nl.join(pull_fwd)}
    return {out_key}, (params, given, {{{saved_dict}}})


def _network_bwd(residuals, G):
    """The derived VJP: G = dL/d{out_key} (n_outputs, m) pulled back to every parameter and to X."""
    params, X, saved = residuals
{unpack}
{unsave}
    Y = G  # the upstream gradient takes the target's place in the derivation
    given = X.shape
{batch_lines(upstream, JAX, targets=False)}
{nl.join(pull_back)}
    return {{{vjp_grads}}}, {input_grad}


@jax.custom_vjp
def {prefix}network(params, X):
    """{out_key} for X (n_inputs, m): the output layer, or its logits for a logistic or softmax output; its backward
    is the derived one."""
    return _network_fwd(params, X)[0]


{prefix}network.defvjp(_network_fwd, _network_bwd)
'''
