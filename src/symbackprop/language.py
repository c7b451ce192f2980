"""A character-level language model: trained on a text's lines with the derived gradients, evaluated and sampled.

The default network is a small transformer (:func:`default_spec`); any sequence network over the text's
vocabulary may be given.  A text is lines, one example each, or (``stream``) one long text in windows of the
block.  Training is mini-batch Adam on the NumPy, JAX or PyTorch backend, the cost the mean cross-entropy over
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
STREAM_LINE = 1000  # characters a stream model's sampled line has at most


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
    stream: bool = False  # trained on one long text in windows of the block (not on lines)

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

    def read(self, path) -> tx.Encoded:
        """A text file as this model reads it: its lines, or (a stream model) windows over all its characters."""
        if self.stream:
            return tx.covering(tx.stream_ids(tx.read_text(path), self.vocab, self.block, str(path)), self.block)
        return tx.encode(tx.read_lines(path), self.vocab, self.block, str(path))

    def cross_entropy(self, data: tx.Encoded) -> float:
        """Nats per predicted token of ``data`` (each character and each line's end; a stream's every character
        after its first)."""
        module, total = self._module(), 0.0
        for start in range(0, data.inputs.shape[1], BLOCK):
            X = data.inputs[:, start:start + BLOCK].astype(float)
            targets = data.targets[:, start:start + BLOCK]
            count = int((targets >= 0).sum())
            total += float(module.cost(self.params, X, tx.one_hot(targets, len(self.vocab)))) * count
        return total / data.predicted

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0, start: str = "") -> list[str]:
        """``n`` lines drawn a character at a time from the model's distribution (sharpened below temperature 1),
        each until the boundary or the block's end; each begins with ``start`` (``--start``), which the model reads
        first."""
        if not math.isfinite(temperature) or temperature <= 0:
            raise SymbackpropError(f"--temperature must be a number above 0, not {temperature:g}")
        if not 1 <= n <= MAX_SAMPLES:
            raise SymbackpropError(f"-n must be from 1 to {MAX_SAMPLES:,} lines, not {n:,}")
        first = self._start_ids(start)
        rng, module = np.random.default_rng(seed), self._module()
        if self.stream:
            return self._sample_stream(n, rng, module, temperature, first)
        ids = np.zeros((self.block, n))
        ids[1:len(first) + 1] = np.array(first, dtype=float)[:, None]
        done, length = np.zeros(n, bool), np.full(n, len(first))
        for t in range(len(first), self.block - 1):
            nxt = self._draw(module, ids, t, rng, temperature)
            done |= nxt == 0
            length += ~done
            ids[t + 1] = np.where(done, 0, nxt)
            if done.all():  # every line has ended
                break
        return ["".join(self.vocab[int(c)] for c in ids[1:length[k] + 1, k]) for k in range(n)]

    def _start_ids(self, start: str) -> list[int]:
        """The ids of ``--start``; one line for a character the model never saw (or a line end), or a start longer
        than a line model's lines."""
        index = {c: k for k, c in enumerate(self.vocab) if k}
        unknown = next((c for c in start if c not in index or c == "\n"), None)  # a line's start: no line end
        if unknown is not None:
            raise SymbackpropError(f"--start: the character {unknown!r} is not in the model's vocabulary "
                                   f"({''.join(c for c in self.vocab[1:] if c.isprintable())!r})")
        if not self.stream and len(start) > self.block - 1:
            raise SymbackpropError(f"--start has {len(start)} characters; this model's lines hold {self.block - 1} "
                                   f"(a block of {self.block} positions, the first the line's start)")
        return [index[c] for c in start]

    def _draw(self, module, ids: np.ndarray, t: int, rng, temperature: float) -> np.ndarray:
        """The next id of each column of ``ids`` (T, n), drawn from the model's distribution at position t."""
        n = ids.shape[1]
        logits = str(self.network.nodes[-1].site.ins[0])
        z = module.forward(self.params, ids)[logits].reshape(-1, n, self.block)[:, :, t] / temperature
        p = np.exp(z - z.max(axis=0))
        p /= p.sum(axis=0)
        return np.array([rng.choice(len(self.vocab), p=p[:, k]) for k in range(n)])

    def _sample_stream(self, n: int, rng, module, temperature: float, first: list[int]) -> list[str]:
        """``n`` lines of a stream model, each drawn a character at a time after a line end and ``first`` (the last
        ``block`` characters its context) until the next, at most ``STREAM_LINE`` characters (a text without line
        ends gives lines of that many)."""
        context = ([self.vocab.index("\n")] if "\n" in self.vocab else []) + first or [1]
        context = context[-self.block:]
        ids = np.full((self.block, n), float(context[-1]))
        ids[:len(context)] = np.array(context, dtype=float)[:, None]
        lines = [[self.vocab[k] for k in first] for _ in range(n)]
        done = np.zeros(n, bool)
        for length in range(len(context), len(context) + STREAM_LINE):
            t = min(length, self.block) - 1
            nxt = self._draw(module, ids, t, rng, temperature)
            for k in np.flatnonzero(~done):
                if self.vocab[nxt[k]] == "\n":
                    done[k] = True
                else:
                    lines[k].append(self.vocab[nxt[k]])
            if done.all():
                break
            if length < self.block:
                ids[length] = nxt
            else:  # the window moves on: the last block characters
                ids = np.vstack([ids[1:], nxt[None].astype(float)])
        return ["".join(line) for line in lines]

    def save(self, path) -> None:
        doc = {"format": FORMAT, "version": 1, "spec": self.spec, "vocabulary": list(self.vocab),
               "stream": self.stream,
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
    if not isinstance(doc.get("stream", False), bool):
        raise ModelFileError(f"{path}: 'stream' must be true or false")
    model = LanguageModel(doc["spec"], tuple(vocab), {}, doc.get("metrics") or {}, doc.get("stream", False))
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
               backend: str = "numpy", stream: bool = False) -> LanguageModel:
    """Train a character model on the lines of ``path`` (held-out lines: ``test`` or a ``test_size`` share) on the
    NumPy, JAX or PyTorch backend (float64; the same numbers on each); ``metrics`` get the train and test
    cross-entropy and the bigram's on the same split.  ``stream``: ``path`` is one long text, read in windows of
    ``block`` (which it then needs) from a random offset each epoch, the held-out share its end."""
    from .allocator import keep_freed_memory
    from .backends import x64
    from .optimizers import get_optimizer
    from .train import init_params

    if backend not in ("numpy", "jax", "torch"):
        raise SymbackpropError(f"--backend must be numpy, jax or torch for a language model, not {backend!r}")

    if stream and block is None:
        raise SymbackpropError("--stream reads one long text in windows of --block T: give --block (e.g. 64)")
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or
                              not 2 <= block <= tx.MAX_BLOCK):
        raise SymbackpropError(f"--block must be a whole number from 2 to {tx.MAX_BLOCK}, not {block!r}")
    share = DEFAULTS["test_size"] if test_size is None else test_size
    if stream:
        train_part, test_part, vocab = _stream_split(path, test, share, block)
    else:
        lines = tx.read_lines(path)
        train_part, test_part = (lines, tx.read_lines(test)) if test is not None else _split(lines, share, seed)
        vocab = tx.vocabulary(train_part)
        block = max(len(line) for line in lines) + 1 if block is None else block
    spec = net or default_spec(block, len(vocab))
    network = parse_spec(spec)
    if network.positions != block or network.vocab != len(vocab) or network.outputs != len(vocab):
        raise SymbackpropError(f"--net {spec} must read {block} positions (the block) over the text's {len(vocab)} "
                               f"tokens (its characters and the line boundary), embed{len(vocab)}d... first and "
                               f"{len(vocab)}:softmax last")
    model = LanguageModel(spec, vocab, {}, stream=stream)
    if stream:
        ids = tx.stream_ids(train_part, vocab, block, str(path))
        data = tx.covering(ids, block)
        held = tx.covering(tx.stream_ids(test_part, vocab, block, str(test or path)), block) if test_part else None
    else:
        data = tx.encode(train_part, vocab, block, str(path))
        held = tx.encode(test_part, vocab, block, str(test or path)) if test_part else None
    epochs, size = epochs or DEFAULTS["epochs"], batch_size or DEFAULTS["batch_size"]
    optimizer = get_optimizer(optimizer or DEFAULTS["optimizer"])
    lr = DEFAULTS["lr"] if lr is None else lr
    rng = np.random.default_rng(seed)
    params = init_params(network, rng)
    keep_freed_memory()  # a step's arrays are freed and made again: kept, not faulted in anew each step
    with x64(backend == "jax"), progress_bar(epochs, progress, "epoch") as bar:
        step, trained = _trainer(network, optimizer, backend, params)
        for _ in range(epochs):
            epoch = tx.windows(ids, block, int(rng.integers(block))) if stream else data
            n = epoch.inputs.shape[1]
            order = rng.permutation(n)
            for start in range(0, n, size):
                idx = order[start:start + size]
                step(epoch.inputs[:, idx].astype(float), tx.one_hot(epoch.targets[:, idx], len(vocab)), lr)
            bar.update(1)
        model.params = trained()
    if not all(np.isfinite(v).all() for v in model.params.values()):
        raise SymbackpropError(f"training diverged (a parameter is not finite): lower --lr below {lr:g}")
    counts = ({"train_characters": len(train_part), "test_characters": len(test_part)} if stream else
              {"train_lines": len(train_part), "test_lines": len(test_part)})
    model.metrics = {"train_cross_entropy": model.cross_entropy(data), **counts, "epochs": epochs,
                     "batch_size": size, "lr": lr, "optimizer": optimizer.name, "seed": seed, "backend": backend}
    if held is not None:
        model.metrics["test_cross_entropy"] = model.cross_entropy(held)
        model.metrics["bigram_test_cross_entropy"] = tx.bigram_cross_entropy(data, held, len(vocab))
    return model


def _stream_split(path, test, share: float, block: int) -> tuple[str, str, tuple[str, ...]]:
    """(training text, held-out text, vocabulary) of one long text: ``test``'s text, or the last ``share`` of
    ``path``'s characters (as nanoGPT holds out the end of Shakespeare), the vocabulary the whole text's."""
    text = tx.read_text(path)
    if test is not None:
        return text, tx.read_text(test), tx.vocabulary([text])
    if not 0 <= share < 1:
        raise SymbackpropError(f"--test-size must be at least 0 and below 1, not {share:g}")
    cut = len(text) - int(round(share * len(text)))
    held = text[cut:] if len(text) - cut > block else ""  # a held-out end shorter than a window: none
    return text[:cut if held else len(text)], held, tx.vocabulary([text])


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
