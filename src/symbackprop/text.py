"""Text as a language model reads it: lines of characters, their vocabulary, ids with next-token targets, a bigram.

Each line is one example: a boundary token (id 0, the start), its characters, and the boundary again (the end).
The inputs are the boundary and the characters, the targets the characters and the end: one prediction a
character and one for the end, as makemore counts them.  Lines are padded to the block length T; a padded
position has no target (-1), and the cost leaves it out.

One long text (``train --stream --block T``, as char-rnn and nanoGPT read Shakespeare) is a stream of characters,
line ends included, cut into windows of T: each window's characters predict the next ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .resources import require_memory

BOUNDARY = ""  # the vocabulary's entry 0: the start and the end of a line
MAX_BLOCK = 4096


def read_text(path) -> str:
    """A UTF-8 text file's characters (line ends as ``\\n``); one line for an unreadable or empty file."""
    path = Path(path)
    try:
        # a character becomes a Python character, then ids, windows of inputs and targets (int64): refused before
        # reading when that would not fit
        require_memory(40.0 * path.stat().st_size, f"{path} ({path.stat().st_size:,} bytes) as a text")
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    if not text.strip():
        raise DataError(f"{path}: the text is empty (no line with a character)")
    return text


def read_lines(path) -> list[str]:
    """The non-empty lines of a UTF-8 text file (without their line ends); one line for an unreadable or empty
    file."""
    text = read_text(path)
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise DataError(f"{path}: the text is empty (no line with a character)")
    return lines


def vocabulary(lines: list[str]) -> tuple[str, ...]:
    """The boundary, then every character of the lines in sorted order."""
    return (BOUNDARY, *sorted({c for line in lines for c in line}))


@dataclass(frozen=True)
class Encoded:
    """Lines as ids: ``inputs`` (T, n) — the boundary, then the characters, then 0s — and ``targets`` (T, n): the
    next id at each position, -1 where there is none (padding)."""

    inputs: np.ndarray
    targets: np.ndarray

    @property
    def predicted(self) -> int:
        """The positions with a target: each character and each line's end."""
        return int((self.targets >= 0).sum())


def encode(lines: list[str], vocab: tuple[str, ...], block: int, where: str) -> Encoded:
    """Ids of ``lines`` in ``vocab`` padded to ``block``; one line naming the first character the vocabulary lacks
    or the first line too long for the block."""
    index = {c: k for k, c in enumerate(vocab)}
    require_memory(16.0 * block * len(lines), f"{where}: {len(lines):,} lines padded to the block of {block}")
    inputs = np.zeros((block, len(lines)), dtype=np.int64)
    targets = np.full((block, len(lines)), -1, dtype=np.int64)
    for n, line in enumerate(lines):
        if len(line) + 1 > block:
            raise DataError(f"{where}: line {n + 1} has {len(line)} characters, more than the block of {block} "
                            f"positions holds with its start ({block - 1}): give --block {len(line) + 1} or more")
        unknown = next((c for c in line if c not in index), None)
        if unknown is not None:
            raise DataError(f"{where}: line {n + 1} has the character {unknown!r}, which the model's vocabulary "
                            f"({len(vocab) - 1} characters) does not have")
        ids = [index[c] for c in line]
        inputs[1:len(ids) + 1, n] = ids
        targets[:len(ids) + 1, n] = [*ids, 0]
    return Encoded(inputs, targets)


def stream_ids(text: str, vocab: tuple[str, ...], block: int, where: str) -> np.ndarray:
    """The ids of a long text's characters; one line naming a character the vocabulary lacks, or a text too short
    for one window of ``block`` positions and its next character."""
    if len(text) < block + 1:
        raise DataError(f"{where}: --block {block} is larger than the text ({len(text)} characters): a window of "
                        f"{block} positions and the character after it need {block + 1}; give --block "
                        f"{max(len(text) - 1, 1)} or less")
    index = {c: k for k, c in enumerate(vocab)}
    unknown = next((c for c in dict.fromkeys(text) if c not in index), None)
    if unknown is not None:
        line = text[:text.index(unknown)].count("\n") + 1
        raise DataError(f"{where}: line {line} has the character {unknown!r}, which the model's vocabulary "
                        f"({len(vocab) - 1} characters) does not have")
    return np.array([index[c] for c in text], dtype=np.int64)


def windows(ids: np.ndarray, block: int, offset: int = 0) -> Encoded:
    """Training windows of a stream: from ``offset`` every ``block`` characters, each window's ``block`` ids and the
    ids one character later as its targets."""
    starts = np.arange(offset, len(ids) - block, block)
    at = starts[None, :] + np.arange(block)[:, None]  # (T, n)
    return Encoded(ids[at], ids[at + 1])


def covering(ids: np.ndarray, block: int) -> Encoded:
    """Windows that predict every character after the first exactly once: every ``block`` characters, and a last
    window ending at the text's end whose positions already predicted have no target (-1)."""
    data = windows(ids, block)
    done = data.inputs.shape[1] * block  # characters 1 .. done are predicted
    if done < len(ids) - 1:
        last = np.arange(len(ids) - 1 - block, len(ids) - 1)
        targets = ids[last + 1].copy()
        targets[last + 1 <= done] = -1
        data = Encoded(np.column_stack([data.inputs, ids[last]]), np.column_stack([data.targets, targets]))
    return data


def one_hot(targets: np.ndarray, size: int, dtype="float64") -> np.ndarray:
    """(size, T, n) one-hot targets; a position without one (-1) is a column of zeros."""
    return (targets[None] == np.arange(size)[:, None, None]).astype(dtype)


def bigram_cross_entropy(train: Encoded, test: Encoded, size: int) -> float:
    """Nats per predicted token on ``test`` of a bigram count model fitted on ``train`` with add-one smoothing
    (the baseline a language model must beat)."""
    counts = np.ones((size, size))
    keep = train.targets >= 0
    np.add.at(counts, (train.inputs[keep], train.targets[keep]), 1)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    keep = test.targets >= 0
    return float(-logp[test.inputs[keep], test.targets[keep]].mean())
