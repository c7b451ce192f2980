"""How each array library (NumPy, JAX, PyTorch) spells what the matrix vocabulary needs: one ``Dialect`` each."""

from __future__ import annotations

from dataclasses import dataclass

from .printers import ArrayJax, ArrayNumPy, ArrayTorch
from .tensor_helpers import (
    JAX_RECURRENCES,
    JAX_SEQUENCES,
    JAX_TENSORS,
    JAX_TOKENS,
    NUMPY_RECURRENCES,
    NUMPY_SEQUENCES,
    NUMPY_TENSORS,
    NUMPY_TOKENS,
    TORCH_RECURRENCES,
    TORCH_SEQUENCES,
    TORCH_TENSORS,
    TORCH_TOKENS,
)


@dataclass(frozen=True)
class Dialect:
    """How one array library spells what the matrix vocabulary needs (samples are columns, ``m`` of them)."""

    name: str
    printer: type
    T: str = "{}.T"
    colsum: str = "{}.sum(axis=0, keepdims=True)"
    colmax: str = "{}.max(axis=0, keepdims=True)"
    bmean: str = "{}.mean(axis=1, keepdims=True)"  # over the batch: batchnorm's statistics
    rowsum: str = "({}).sum(axis=1, keepdims=True)"  # a gradient's sum over the batch
    ones: str = "np.ones(({}, X.shape[-1]))"  # a column of ones per sample (or position)
    total: str = "({}).sum()"
    inner: str = "np.vdot({}, {})"  # the sum of an elementwise product of two same-shaped arrays
    # tensors (images): the batch is the last axis
    einsum: str = "np.einsum({!r}, {}, optimize=True)"
    wmax: str = "{}.max(axis=(1, 2))"
    expand: str = "np.broadcast_to({}, ({}))"
    batch_last: str = "{}.transpose(1, 2, 3, 0)"  # (N, C, H, W) images, samples first, to (C, H, W, N)
    samples_first: str = "{}.transpose(3, 0, 1, 2)"  # and back
    helpers: str = ""  # _window, _unwindow and _route, as this library spells them
    # a gradient written into a given array (a view of a flat buffer): a matrix product, a sum over the batch
    matmul_into: str = "np.matmul({}, {}, out={})"
    rowsum_into: str = "np.add.reduce({}, axis=1, keepdims=True, out={})"
    ids: str = "{}.astype(np.intp)"  # token ids (stored as the input's floats) as indices
    positions: str = "np.tile(np.arange({0}), (1, X.shape[1] // {0}))"
    seq_targets: str = "Y.transpose(0, 2, 1).reshape(Y.shape[0], -1)"
    unrows: str = "np.pad({x}, (({top}, {bottom}), (0, 0)))"
    stack: str = "np.concatenate(({},), axis=0)"
    sequences: str = ""  # _sdot and _causal, as this library spells them
    tokens: str = ""  # _scatter, as this library spells it
    recurrences: str = ""  # _recur, _bptt and _lag, as this library spells them
    position_sum: str = "{}.reshape({}, -1, {}).sum(axis=1)"  # a sequence's columns summed over its samples
    # the column reductions on an attention layer's (heads, rows, columns) array; empty: heads print one by one
    heads_colsum: str = ""
    heads_colmax: str = ""
    # a sequence's product A·B of a batch B (many columns) printed as (Bᵀ·Aᵀ)ᵀ: BLAS runs a GPT step's products
    # 1.1–1.4x faster this way round here, the step 1–8% (benchmarks/bench_sequence.py); empty: as written
    wide_dot: str = ""
    # Σ over a column (over the batch) of a ⊙ b, one pass and no temporary: (a, b) of one shape, the sum's shape kept
    colsum_dot: str = ""
    heads_colsum_dot: str = ""
    rowsum_dot: str = ""


# NumPy's reductions called as ufunc methods: ``x.sum()`` goes through a Python wrapper, a microsecond a call
NUMPY = Dialect("numpy", ArrayNumPy, colsum="np.add.reduce({}, axis=0, keepdims=True)",
                colmax="np.maximum.reduce({}, axis=0, keepdims=True)",
                rowsum="np.add.reduce({}, axis=1, keepdims=True)", helpers=NUMPY_TENSORS, tokens=NUMPY_TOKENS,
                sequences=NUMPY_SEQUENCES, recurrences=NUMPY_RECURRENCES,
                heads_colsum="np.add.reduce({}, axis=-2, keepdims=True)",
                heads_colmax="np.maximum.reduce({}, axis=-2, keepdims=True)", wide_dot="({} @ {}).T",
                colsum_dot="np.einsum('i...,i...->...', {}, {})[None]",
                heads_colsum_dot="np.einsum('...ij,...ij->...j', {}, {})[..., None, :]",
                rowsum_dot="np.einsum('...i,...i->...', {}, {})[:, None]")
JAX = Dialect("jax", ArrayJax, ones="jnp.ones(({}, X.shape[-1]), X.dtype)", inner="jnp.vdot({}, {})",
              einsum="jnp.einsum({!r}, {})", expand="jnp.broadcast_to({}, ({}))", helpers=JAX_TENSORS,
              ids="{}.astype(jnp.int32)", tokens=JAX_TOKENS,
              positions="jnp.tile(jnp.arange({0}), (1, X.shape[1] // {0}))",
              unrows="jnp.pad({x}, (({top}, {bottom}), (0, 0)))", stack="jnp.concatenate(({},), axis=0)",
              sequences=JAX_SEQUENCES, recurrences=JAX_RECURRENCES)
TORCH = Dialect("torch", ArrayTorch, colsum="{}.sum(dim=0, keepdim=True)", colmax="{}.amax(dim=0, keepdim=True)",
                bmean="{}.mean(dim=1, keepdim=True)",
                rowsum="({}).sum(dim=1, keepdim=True)",
                ones="torch.ones(({}, X.shape[-1]), dtype=X.dtype, device=X.device)",
                inner="torch.sum(({}) * ({}))", einsum="torch.einsum({!r}, {})", wmax="{}.amax(dim=(1, 2))",
                expand="{}.expand({})", helpers=TORCH_TENSORS, batch_last="{}.permute(1, 2, 3, 0)",
                samples_first="{}.permute(3, 0, 1, 2)", matmul_into="torch.matmul({}, {}, out={})",
                rowsum_into="torch.sum({}, dim=1, keepdim=True, out={})", ids="{}.long()", tokens=TORCH_TOKENS,
                positions="torch.arange({0}, device=X.device).repeat(1, X.shape[1] // {0})",
                seq_targets="Y.permute(0, 2, 1).reshape(Y.shape[0], -1)",
                unrows="torch.nn.functional.pad({x}, (0, 0, {top}, {bottom}))", stack="torch.cat(({},), dim=0)",
                position_sum="{}.reshape({}, -1, {}).sum(dim=1)",
                sequences=TORCH_SEQUENCES, recurrences=TORCH_RECURRENCES)
