"""A character-level language model: trained on a text's lines with the derived gradients, evaluated and sampled.

The default network is a small transformer (:func:`default_spec`); any sequence network over the text's
vocabulary may be given.  Training is mini-batch Adam on the NumPy backend, the cost the mean cross-entropy over
the predicted tokens (each character and each line's end; padding left out).  The model file is JSON: the spec,
the vocabulary, the block length, the parameters and the measured cross-entropies — nothing in it is run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import text as tx
from .errors import ModelFileError, SymbackpropError
from .fileio import atomic_write
from .grammar import parse_spec
from .loop_parts import progress_bar

FORMAT = "symbackprop-language-model"
DIM, HEADS, BLOCKS = 32, 4, 2  # the default transformer: width, heads, blocks (an MLP of 4·DIM in each)
DEFAULTS = {"epochs": 10, "batch_size": 32, "lr": 3e-3, "optimizer": "adam", "test_size": 0.1}
BLOCK = 256  # lines evaluated at a time
MAX_SAMPLES = 100_000  # lines one sample call draws (each a forward pass over the block, all at once)


def default_spec(block: int, vocab: int, dim: int = DIM, heads: int = HEADS, blocks: int = BLOCKS) -> str:
    """The documented default: token and position embeddings of ``dim``, ``blocks`` GPT-2 blocks (pre-norm
    attention with ``heads`` heads, a 4·dim GELU (tanh) MLP, each added to its input), a final layernorm and a
    softmax over the vocabulary at every position."""
    block_spec = f"res(layernorm+attn{heads})-res(layernorm+{4 * dim}:gelu_tanh+{dim}:identity)"
    return "-".join([f"{block}", f"embed{vocab}d{dim}", f"pos{block}d{dim}", *[block_spec] * blocks, "layernorm",
                     f"{vocab}:softmax"])


@dataclass
class LanguageModel:
    """A trained character model: its network, vocabulary (entry 0 the line boundary), parameters, metrics."""

    spec: str
    vocab: tuple[str, ...]
    params: dict
    metrics: dict = field(default_factory=dict)

    def __post_init__(self):
        self.network = parse_spec(self.spec)
        if self.network.positions == 0 or self.network.vocab != len(self.vocab) or \
                self.network.outputs != len(self.vocab):
            raise ModelFileError(f"{self.spec} is not a sequence network over a vocabulary of {len(self.vocab)}")

    @property
    def block(self) -> int:
        return self.network.positions

    def _module(self):
        from .backends import numpy_module

        return numpy_module(self.network)

    def cross_entropy(self, lines: list[str], where: str) -> float:
        """Nats per predicted token on ``lines`` (each character and each line's end)."""
        data = tx.encode(lines, self.vocab, self.block, where)
        module, total = self._module(), 0.0
        for start in range(0, data.inputs.shape[1], BLOCK):
            X = data.inputs[:, start:start + BLOCK].astype(float)
            targets = data.targets[:, start:start + BLOCK]
            count = int((targets >= 0).sum())
            total += float(module.cost(self.params, X, tx.one_hot(targets, len(self.vocab)))) * count
        return total / data.predicted

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0) -> list[str]:
        """``n`` lines drawn a character at a time from the model's distribution (sharpened below temperature 1),
        each until the boundary or the block's end."""
        if not math.isfinite(temperature) or temperature <= 0:
            raise SymbackpropError(f"--temperature must be a number above 0, not {temperature:g}")
        if not 1 <= n <= MAX_SAMPLES:
            raise SymbackpropError(f"-n must be from 1 to {MAX_SAMPLES:,} lines, not {n:,}")
        rng, module = np.random.default_rng(seed), self._module()
        logits = str(self.network.nodes[-1].site.ins[0])
        ids = np.zeros((self.block, n))
        done, length = np.zeros(n, bool), np.zeros(n, int)
        for t in range(self.block - 1):
            z = module.forward(self.params, ids)[logits].reshape(-1, n, self.block)[:, :, t] / temperature
            p = np.exp(z - z.max(axis=0))
            p /= p.sum(axis=0)
            nxt = np.array([rng.choice(len(self.vocab), p=p[:, k]) for k in range(n)])
            done |= nxt == 0
            length += ~done
            ids[t + 1] = np.where(done, 0, nxt)
            if done.all():  # every line has ended
                break
        return ["".join(self.vocab[int(c)] for c in ids[1:length[k] + 1, k]) for k in range(n)]

    def save(self, path) -> None:
        doc = {"format": FORMAT, "version": 1, "spec": self.spec, "vocabulary": list(self.vocab),
               "params": {k: np.asarray(v).tolist() for k, v in self.params.items()}, "metrics": self.metrics}
        atomic_write(path, json.dumps(doc))


def is_language_model(path) -> bool:
    """Whether a model file is a language model's (its format names it)."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(200)
    except OSError:
        return False
    return f'"format": "{FORMAT}"' in head


def load_language_model(path) -> LanguageModel:
    """A language model file, checked field by field (one line for what is wrong)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: not a model file ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a language model file")
    vocab = doc.get("vocabulary")
    if not isinstance(vocab, list) or not vocab or vocab[0] != tx.BOUNDARY or \
            not all(isinstance(c, str) and len(c) == 1 for c in vocab[1:]) or len(set(vocab)) != len(vocab):
        raise ModelFileError(f"{path}: 'vocabulary' must list the boundary \"\" then distinct characters")
    if not isinstance(doc.get("spec"), str) or not isinstance(doc.get("params"), dict):
        raise ModelFileError(f"{path}: 'spec' and 'params' are required")
    model = LanguageModel(doc["spec"], tuple(vocab), {}, doc.get("metrics") or {})
    for name, shape in model.network.shapes().items():
        try:
            value = np.asarray(doc["params"][name], dtype=float)
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{path}: parameter {name} is missing or not numbers") from None
        if value.shape != shape or not np.isfinite(value).all():
            raise ModelFileError(f"{path}: parameter {name} must be {shape} finite numbers, not {value.shape}")
        model.params[name] = value
    return model


def _split(lines: list[str], test_size: float, seed: int) -> tuple[list[str], list[str]]:
    if not 0 <= test_size < 1:
        raise SymbackpropError(f"--test-size must be at least 0 and below 1, not {test_size:g}")
    order = np.random.default_rng(seed).permutation(len(lines))
    cut = len(lines) - int(round(test_size * len(lines)))
    return [lines[k] for k in order[:cut]], [lines[k] for k in order[cut:]]


def train_text(path, net: str | None = None, *, block: int | None = None, epochs: int | None = None,
               batch_size: int | None = None, lr: float | None = None, optimizer: str | None = None, seed: int = 0,
               test_size: float | None = None, test=None, progress: bool | None = None,
               backend: str = "numpy") -> LanguageModel:
    """Train a character model on the lines of ``path`` (held-out lines: ``test`` or a ``test_size`` share) on the
    NumPy, JAX or PyTorch backend (float64; the same numbers on each); ``metrics`` get the train and test
    cross-entropy and the bigram's on the same split."""
    from .allocator import keep_freed_memory
    from .backends import x64
    from .optimizers import get_optimizer
    from .train import init_params

    if backend not in ("numpy", "jax", "torch"):
        raise SymbackpropError(f"--backend must be numpy, jax or torch for a language model, not {backend!r}")

    lines = tx.read_lines(path)
    train_lines, test_lines = (lines, tx.read_lines(test)) if test is not None else \
        _split(lines, DEFAULTS["test_size"] if test_size is None else test_size, seed)
    vocab = tx.vocabulary(train_lines)
    longest = max(len(line) for line in lines)
    block = longest + 1 if block is None else block
    if isinstance(block, bool) or not isinstance(block, int) or not 2 <= block <= tx.MAX_BLOCK:
        raise SymbackpropError(f"--block must be a whole number from 2 to {tx.MAX_BLOCK}, not {block!r}")
    spec = net or default_spec(block, len(vocab))
    network = parse_spec(spec)
    if network.positions != block or network.vocab != len(vocab) or network.outputs != len(vocab):
        raise SymbackpropError(f"--net {spec} must read {block} positions (the block) over the text's {len(vocab)} "
                               f"tokens (its characters and the line boundary), embed{len(vocab)}d... first and "
                               f"{len(vocab)}:softmax last")
    data = tx.encode(train_lines, vocab, block, str(path))
    held = tx.encode(test_lines, vocab, block, str(test or path)) if test_lines else None
    epochs, size = epochs or DEFAULTS["epochs"], batch_size or DEFAULTS["batch_size"]
    optimizer = get_optimizer(optimizer or DEFAULTS["optimizer"])
    lr = DEFAULTS["lr"] if lr is None else lr
    rng = np.random.default_rng(seed)
    params = init_params(network, rng)
    keep_freed_memory()  # a step's arrays are freed and made again: kept, not faulted in anew each step
    n = data.inputs.shape[1]
    with x64(backend == "jax"), progress_bar(epochs, progress, "epoch") as bar:
        step, trained = _trainer(network, optimizer, backend, params)
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, size):
                idx = order[start:start + size]
                step(data.inputs[:, idx].astype(float), tx.one_hot(data.targets[:, idx], len(vocab)), lr)
            bar.update(1)
        params = trained()
    model = LanguageModel(spec, vocab, params)
    if not all(np.isfinite(v).all() for v in model.params.values()):
        raise SymbackpropError(f"training diverged (a parameter is not finite): lower --lr below {lr:g}")
    model.metrics = {"train_cross_entropy": model.cross_entropy(train_lines, str(path)),
                     "train_lines": len(train_lines), "test_lines": len(test_lines), "epochs": epochs,
                     "batch_size": size, "lr": lr, "optimizer": optimizer.name, "seed": seed, "backend": backend}
    if held is not None:
        model.metrics["test_cross_entropy"] = model.cross_entropy(test_lines, str(test or path))
        model.metrics["bigram_test_cross_entropy"] = tx.bigram_cross_entropy(data, held, len(vocab))
    return model


def _trainer(network, optimizer, backend: str, params: dict):
    """``(step(X, Y, lr), trained())``: the generated optimizer step of ``network`` on ``backend`` (in place for
    NumPy and PyTorch, jitted for JAX), and the parameters it has reached as NumPy arrays."""
    from .backends import optimizer_module
    from .frameworks import initial_state

    state = initial_state(network, optimizer, params, np.zeros_like)
    module = optimizer_module(network, optimizer, backend)
    if backend == "numpy":
        return (lambda X, Y, lr: module.optimizer_step(params, state, X, Y, lr, cost=False)), lambda: params
    if backend == "torch":
        import torch

        to = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()}
        st = {k: v if k == "t" else torch.as_tensor(v, dtype=torch.float64) for k, v in state.items()}
        return (lambda X, Y, lr: module.optimizer_step(to, st, torch.as_tensor(X), torch.as_tensor(Y), lr,
                                                       cost=False)), \
            lambda: {k: v.numpy().copy() for k, v in to.items()}
    import jax
    import jax.numpy as jnp

    jitted = jax.jit(module.optimizer_step)
    box = {"p": {k: jnp.asarray(v) for k, v in params.items()},
           "s": {k: v if k == "t" else jnp.asarray(v) for k, v in state.items()}}

    def step(X, Y, lr):
        new, box["s"], _ = jitted(box["p"], box["s"], jnp.asarray(X), jnp.asarray(Y), lr)
        box["p"] = {**box["p"], **new}

    return step, lambda: {k: np.asarray(v, dtype=float) for k, v in box["p"].items()}
