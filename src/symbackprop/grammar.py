"""The spec grammar: ``INPUTS-LAYER-LAYER...`` read into a :class:`~symbackprop.spec.Network`, token by token."""

from __future__ import annotations

from .blocks import LayerNorm as LayerNormBlock
from .blocks import Residual
from .costs import Cost
from .dense_spec import _INT, MAX_DROPOUT, NORMS, NOT_YET, USER_NORMS, Dense
from .errors import SpecError
from .images import is_image_token, parse_input, parse_token
from .sequences import is_sequence_token
from .sequences import parse_token as parse_sequence_token
from .spec import Network


def parse_spec(text: str, cost: str | Cost | None = None, definitions=()) -> Network:
    """Parse ``INPUTS-LAYER-LAYER...`` into a :class:`Network`; clear errors name the bad token.

    ``LAYER = WIDTH[:NORM]:ACT[:dropout=P][:residual][:nobias]`` (``NORM``: layernorm or batchnorm), e.g.
    ``4-4:layernorm:relu:residual-2:softmax``; ``nobias``: a layer without its bias B.

    ``cost`` defaults to cross_entropy for a softmax output and squared_error otherwise; a :class:`Network`
    passes through, keeping its cost unless one is given.  ``definitions`` are activations and costs (a model
    file's own) that names resolve to before the registered ones, without registering them.
    """
    local = {d.name.lower(): d for d in definitions}
    if isinstance(cost, str) and cost.strip().lower() in local:
        cost = local[cost.strip().lower()]
    if isinstance(text, Network):
        return text if cost is None else text.with_cost(cost)
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty network spec; expected INPUTS-WIDTH:ACT-..., e.g. '3-3:relu-1:logistic'")
    tokens = text.strip().split("-")
    image = parse_input(tokens[0]) if "x" in tokens[0].lower() and not _INT.match(tokens[0]) else None
    if image is None and not _INT.match(tokens[0]):
        raise SpecError(f"spec {_shown(text)} must start with the number of inputs (or CxHxW), not {tokens[0]!r}")
    if len(tokens) < 2:
        raise SpecError(f"spec {_shown(text)} has no layers; expected e.g. '{tokens[0].strip()}-1:logistic'")
    layers, shown = [], _shown(text)  # shown once: a message per layer that repeated a long spec grew quadratically
    for number, token in enumerate(tokens[1:], start=1):
        try:
            layers.append(_parse_layer(token.strip(), local, f"layer {number} ({token!r}) of spec {shown}"))
        except _Placed:
            raise
        except SpecError as err:
            raise SpecError(f"{err} (layer {number}, {token.strip()!r}, of spec {shown})") from None
    return Network(image or int(tokens[0]), layers, cost)


SHOWN = 200  # characters of a spec that an error message repeats


def _shown(text: str) -> str:
    """The spec as an error message names it: whole up to SHOWN characters, else its start and end around its
    length (a generated spec of 40,000 layers is 280 kB)."""
    if len(text) <= SHOWN:
        return repr(text)
    return f"{text[:SHOWN // 2]!r}…{text[-SHOWN // 4:]!r} ({len(text):,} characters)"


class _Placed(SpecError):
    """An error that already says where in the spec it is."""


def _parse_layer(token: str, local: dict, where: str):
    """One layer token: ``WIDTH[:NORM]:ACT[:...]``, an image or token layer, ``layernorm`` or ``res(A+B+...)``;
    ``where`` names it in the spec."""
    if token == "layernorm":
        return LayerNormBlock()
    if token.startswith("res(") and token.endswith(")"):
        return Residual([_parse_layer(inner.strip(), local, where) for inner in token[4:-1].split("+")])
    if token.startswith("res"):
        raise SpecError("expected res(LAYER+LAYER+...), e.g. res(layernorm+attn4)")
    if is_image_token(token):
        return (parse_sequence_token if is_sequence_token(token) else parse_token)(token)
    width, sep, act = token.partition(":")
    if not _INT.match(width):
        what = "missing width" if not width.strip() else f"bad width {width.strip()!r}"
        raise _Placed(f"{what} in {where}; expected WIDTH:ACTIVATION")
    if not sep or not act.strip():
        raise _Placed(f"missing activation in {where}; expected WIDTH:ACTIVATION, e.g. '3:relu'")
    parts = [p.strip() for p in act.split(":")]
    if parts[0] in NORMS and parts[0] not in USER_NORMS:
        raise SpecError(f"{parts[0]} is how a trained network predicts, not a norm for specs; use batchnorm")
    norm = parts.pop(0) if parts[0] in USER_NORMS or parts[0] in NOT_YET else None
    options = {"norm": norm}
    if not parts or not parts[0]:
        raise SpecError(f"missing activation after {norm}; expected WIDTH:{norm}:ACTIVATION")
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        option = {"residual": "residual", "nobias": "bias"}.get(part) or \
            ("dropout" if key == "dropout" and eq else None)
        if option is None:
            raise SpecError(f"unknown option {part!r}; expected dropout=P, residual or nobias after the activation")
        if option in options:
            raise SpecError(f"{part if option == 'bias' else option} is given twice")
        options[option] = _probability(value) if option == "dropout" else option == "residual"
    return Dense(int(width), local.get(parts[0].lower(), parts[0]), **options)


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise SpecError(f"dropout={text} is not a number") from None
    if not 0 <= p <= MAX_DROPOUT:
        raise SpecError(f"dropout={text} must be at least 0 and at most {MAX_DROPOUT}")
    return p
