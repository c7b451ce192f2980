"""The samples-as-rows face of an exported NumPy, JAX or PyTorch module: what each framework's users call."""

from __future__ import annotations

from dataclasses import dataclass

from .. import matexpr as mx
from ..optimizers import state_key
from ..program import Program


@dataclass(frozen=True)
class Spelling:
    """How one library spells the few things the rows face needs."""

    reshape: str  # a parameter to its derivation shape
    array: str  # anything array-like to the library's array
    one_hot: str  # integer labels (m,) to (m, n) in a dtype
    dtype: str  # the dtype of an array
    cast: str  # an array to a dtype
    shape: str  # the shape of params[k] as given
    softmax: str
    sigmoid: str
    arange: str  # 0 .. n - 1


SPELLINGS = {
    "numpy": Spelling("np.reshape(params[k], COLUMN_SHAPES[k])", "np.asarray({})", "np.eye({n}, dtype={dtype})[{y}]",
                      "{}.dtype", "{}.astype({})", "np.shape(params[k])", "_softmax_rows({})", "_logistic({})",
                      "np.arange({})"),
    "jax": Spelling("jnp.reshape(params[k], COLUMN_SHAPES[k])", "jnp.asarray({})",
                    "jax.nn.one_hot({y}, {n}, dtype={dtype})", "{}.dtype", "{}.astype({})", "jnp.shape(params[k])",
                    "jax.nn.softmax({}, axis=-1)",
                    "jax.nn.sigmoid({})", "jnp.arange({})"),
    "torch": Spelling("params[k].reshape(COLUMN_SHAPES[k])", "torch.as_tensor({})",
                      "torch.nn.functional.one_hot(torch.as_tensor({y}).long(), {n}).to({dtype})", "{}.dtype",
                      "{}.to({})", "params[k].shape", "torch.softmax({}, dim=-1)", "torch.sigmoid({})",
                      "torch.arange({})"),
}

NUMPY_SOFTMAX = '''

def _softmax_rows(z):
    """The softmax of each row of z (over its last axis), shifted by its maximum (no overflow)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''


def logits_key(network) -> str:
    """The name of what ``forward`` returns: the output layer's pre-activation (the logits) for a logistic or
    softmax output, else the output layer."""
    last = network.eval().nodes[-1].site
    return str(last.ins[0] if network.has_logits else last.out)


def face(network, program: Program, framework: str, optimizer=None) -> str:
    """The rows functions of an export, after its ``columns_`` functions: ``forward`` (logits), ``predict``,
    ``predict_proba`` (classifiers), ``cost``, ``gradients``, ``sgd_step``, ``init_params``; JAX's ``network`` too."""
    sp = SPELLINGS[framework]
    kind = getattr(network.output.activation, "outputs", "real")
    n_out, out_key, logits = network.outputs, program.output.key, logits_key(network)
    flat = {p.name: (p.shape[0],) if len(p.shape) == 2 and p.shape[1] == 1 and not p.matrix else p.shape
            for p in program.params}
    learned = [p.name for p in program.params if not p.state]
    image = mx.is_tensor(program.input.shape)
    if image:
        c, h, w, _ = program.input.shape
        samples = (f"    X = {sp.array.format('X')}\n"
                   f"    return X.reshape(X.shape[0], {c}, {h}, {w})  # (m, C·H·W) rows or (m, C, H, W) images")
    else:
        samples = f"    return {sp.array.format('X')}.T"
    seq = program.positions
    if seq:  # a sequence's targets: the next ids (m, T), -1 where there is none, or one-hot (m, T, n_outputs)
        labels = (f"return {sp.cast.format(f'Y.T[None] == {sp.arange.format(n_out)}[:, None, None]', 'dtype')}"
                  f"  # (n_outputs, T, m)")
        label_doc = "next ids (m, T) of 0 .. n_outputs - 1, -1 for none, or one-hot (m, T, n_outputs)"
    elif kind == "distribution":
        labels = "return " + sp.one_hot.format(y="Y", n=n_out, dtype="dtype") + ".T"
        label_doc = "class labels (m,) of 0 .. n_outputs - 1 are one-hot"
    elif n_out == 1:
        labels = "return " + sp.cast.format("Y[None, :]", "dtype")
        label_doc = "a vector (m,) for the one output"
    else:
        labels = (f'raise ValueError(f"Y has shape {{tuple(Y.shape)}}; give one row of {n_out} targets per '
                  'sample")')
        label_doc = "rows of targets"
    proba = ""
    if kind in ("distribution", "probability"):
        squash = sp.softmax if kind == "distribution" else sp.sigmoid
        proba = f'''

def predict_proba(params, X):
    """The probabilities {out_key} (m, n_outputs) for rows X: the {"softmax" if kind == "distribution" else
    "logistic"} of forward's logits."""
    return {squash.format("forward(params, X)")}'''
    what = f"the logits {logits} before the output activation (predict_proba applies it)" \
        if network.has_logits else f"the output layer {out_key}"
    images = " (or (m, C, H, W) images)" if image else ""
    per, to_rows = (f"{seq}, ", f".reshape(-1, {seq}, {n_out})") if seq else ("", "")
    nl = "\n"
    update = _UPDATES[framework]
    extra = _JAX_NETWORK.format(to_rows=to_rows) if framework == "jax" else ""
    if optimizer is not None:
        extra += _optimizer_face(optimizer, framework, learned)
    helpers = NUMPY_SOFTMAX if framework == "numpy" and kind == "distribution" else ""
    return f'''

# -- samples as rows: the functions to call --------------------------------------------------------------------------
# X is (m, n_inputs), one sample per row{images}; Y is (m, n_outputs) ({label_doc}).
# params as init_params makes them: W (out, in) as torch.nn.Linear.weight, biases 1-D (an (n, 1) column works too).
# The columns_ functions above keep the derivation's own layout: samples are columns.

PARAM_SHAPES = {flat!r}
COLUMN_SHAPES = {dict((p.name, p.shape) for p in program.params)!r}  # as the columns_ functions take them
LEARNED = {learned!r}  # what training updates (batchnorm's running statistics are not learned)
{helpers}

def _columns(params):
    """The parameters in the derivation's shapes (a 1-D bias as its (n, 1) column)."""
    return {{k: {sp.reshape} for k in COLUMN_SHAPES}}


def _samples(X):
    """Rows X as the derivation's columns."""
{samples}


def _targets(Y, dtype):
    """Y as the derivation's columns (n_outputs, m)."""
    Y = {sp.array.format("Y")}
    if Y.ndim == {2 if seq else 1}:
        {labels}
    return {sp.cast.format("Y.T", "dtype")}


def init_params(seed=0):
    """Parameters as symbackprop initialises them (He or Glorot normal, zero biases), shaped as PARAM_SHAPES."""
    rng = np.random.default_rng(seed)
    return {{
{nl.join(_init_line(p, flat[p.name], framework) for p in program.params)}
    }}


def forward(params, X):
    """{what[0].upper() + what[1:]}, (m, {per}n_outputs) for rows X."""
    return {_columns_call("forward", "X")}["{logits}"].T{to_rows}


def predict(params, X):
    """The output layer {out_key} (m, {per}n_outputs) for rows X."""
    return {_columns_call("predict", "X")}.T{to_rows}{proba}


def cost(params, X, Y):
    """The mean cost over the rows of X, Y."""
    X = _samples(X)
    return columns_cost(_columns(params), X, _targets(Y, {sp.dtype.format("X")}))


def gradients(params, X, Y):
    """(mean cost, grads) for rows X, Y: the derived gradient of every parameter, shaped as it is in params."""
    X = _samples(X)
    c, grads = columns_gradients(_columns(params), X, _targets(Y, {sp.dtype.format("X")}))
    return c, {{k: g.reshape({sp.shape}) for k, g in grads.items()}}


{update}{extra}'''


def _columns_call(name: str, x: str) -> str:
    return f"columns_{name}(_columns(params), _samples({x}))"


def _init_line(param, shape, framework: str) -> str:
    if param.std is not None:
        value = f"rng.normal(0.0, {param.std!r}, {shape!r})"
    else:
        value = f"np.{'ones' if param.init == 'ones' else 'zeros'}({shape!r})"
    wrap = {"numpy": "{}", "jax": "jnp.asarray({})", "torch": "torch.as_tensor({}, dtype=torch.get_default_dtype())"}
    return f'        "{param.name}": {wrap[framework].format(value)},'


_UPDATES = {
    "numpy": '''def sgd_step(params, X, Y, lr):
    """One step of gradient descent on the rows (X, Y), in place on the arrays of params; the mean cost before it."""
    c, grads = gradients(params, X, Y)
    for k in LEARNED:
        params[k] -= lr * grads[k]
    return c
''',
    "jax": '''def sgd_step(params, X, Y, lr):
    """(new params, mean cost before the step): one step of gradient descent on the rows (X, Y); jittable."""
    c, grads = gradients(params, X, Y)
    return {**params, **{k: params[k] - lr * grads[k] for k in LEARNED}}, c
''',
    "torch": '''def sgd_step(params, X, Y, lr):
    """One step of gradient descent on the rows (X, Y), in place on the tensors of params; the mean cost before it."""
    with torch.no_grad():
        c, grads = gradients(params, X, Y)
        for k in LEARNED:
            params[k].sub_(lr * grads[k])
    return c
''',
}

def _optimizer_face(optimizer, framework: str, learned: list[str]) -> str:
    """``init_state`` and ``optimizer_step`` over rows: the chosen optimizer's whole step (forward, the derived
    gradients, the update)."""
    zeros = {"numpy": "np.zeros(COLUMN_SHAPES[k])", "jax": "jnp.zeros(COLUMN_SHAPES[k])",
             "torch": "torch.zeros(COLUMN_SHAPES[k], dtype=dtype)"}[framework]
    keys = {state_key(v, k): k for k in learned for v in optimizer.state}  # m_W1 -> W1: generated, as training's
    state = f'    return {{"t": 0, **{{key: {zeros} for key, k in {keys!r}.items()}}}}'
    if framework == "jax":
        body = ("    X = _samples(X)\n"
                "    new, state, c = columns_optimizer_step(_columns(params), state, X, _targets(Y, X.dtype), lr)\n"
                "    return {**params, **{k: v.reshape(jnp.shape(params[k])) for k, v in new.items()}}, state, c")
        what = "(new params, new state, mean cost before the step)"
    else:
        body = ("    X = _samples(X)\n"
                "    return columns_optimizer_step(_columns(params), state, X, _targets(Y, X.dtype), lr)")
        what = "the mean cost before the step, params and state updated in place"
    arg = "params, dtype=torch.get_default_dtype()" if framework == "torch" else "params"
    return f'''

def init_state({arg}):
    """The state of {optimizer.summary()} for params: the step count and its variables at 0."""
{state}


def optimizer_step(params, state, X, Y, lr):
    """{what}: one step of {optimizer.summary()} on the rows (X, Y)."""
{body}
'''


_JAX_NETWORK = '''

def network(params, X):
    """forward with the derived backward: jax.grad of anything built on it runs the derived VJP (columns_network)."""
    return columns_network(_columns(params), _samples(X)).T{to_rows}
'''
