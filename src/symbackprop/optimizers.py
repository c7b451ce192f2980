"""Optimizers: each one object holding its update equations (SymPy); the training step prints them after the gradients.

Every rule is as ``torch.optim`` states it, for one parameter ``p`` with the batch's mean gradient ``g`` and the
step count ``t`` (from 1); state variables start at 0.  A rule is a list of assignments ``name ← expression``,
applied in order, so that ``derive --optimizer`` shows them and each array library prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy as sp

from .errors import SymbackpropError
from .registry import Registry

p, g, t, lr = sp.symbols("p g t lr", real=True)
m, v, b = sp.symbols("m v b", real=True)  # first and second moments (Adam, RMSprop), the momentum buffer
beta1, beta2, eps, mu, alpha, lam = sp.symbols("beta1 beta2 epsilon mu alpha lambda", positive=True)


@dataclass(frozen=True)
class Schedule:
    """The learning rate's factor at step t, and gradient clipping: what every optimizer's step applies first.

    ``kind``: constant, step (× ``gamma`` every ``step_size`` steps) or cosine (to 0 over ``total`` steps, as
    ``CosineAnnealingLR``), each taken at t − 1 as PyTorch's schedulers are stepped after each step; ``warmup``
    multiplies by min(1, t / warmup); ``clip_norm`` scales the gradients of all parameters together to that norm
    at most (``clip_grad_norm_``)."""

    kind: str = "constant"
    total: int = 0
    step_size: int = 0
    gamma: float = 0.1
    warmup: int = 0
    clip_norm: float | None = None

    def factor(self) -> sp.Expr:
        """The learning rate's factor as a function of ``t`` (1 for a constant schedule with no warmup)."""
        out = sp.Integer(1)
        if self.kind == "step":
            out = sp.Float(self.gamma) ** sp.floor((t - 1) / self.step_size)
        elif self.kind == "cosine":
            out = (1 + sp.cos(sp.pi * (t - 1) / self.total)) / 2
        if self.warmup:
            out = out * sp.Min(1, t / sp.Integer(self.warmup))
        return out

    @property
    def plain(self) -> bool:
        return self.kind == "constant" and not self.warmup and self.clip_norm is None

    def text(self) -> str:
        parts = [] if self.kind == "constant" and not self.warmup else [f"lr ← lr·{self.factor()}"]
        if self.clip_norm is not None:
            parts.append(f"g ← g·min(1, {self.clip_norm:g} / (‖all g‖ + 1e-6))")
        return "; ".join(parts)


def schedule(kind: str | None, total: int, steps_per_epoch: int, step_size: int | None = None,
             gamma: float | None = None, warmup: int | None = None, clip_norm: float | None = None) -> Schedule:
    """A schedule from the command line's words (``step_size`` in epochs), each checked; one line at fault."""
    kind = kind or "constant"
    if kind not in ("constant", "step", "cosine"):
        raise SymbackpropError(f"--lr-schedule must be constant, step or cosine, not {kind!r}")
    if (step_size is not None or gamma is not None) and kind != "step":
        raise SymbackpropError("--step-size and --gamma are for --lr-schedule step")
    if step_size is not None and (isinstance(step_size, bool) or step_size < 1):
        raise SymbackpropError(f"--step-size must be a whole number of epochs of at least 1, not {step_size!r}")
    if gamma is not None and not (math.isfinite(gamma) and 0 < gamma <= 1):
        raise SymbackpropError(f"--gamma must be above 0 and at most 1, not {gamma!r}")
    if warmup is not None and (isinstance(warmup, bool) or warmup < 1 or warmup >= total):
        raise SymbackpropError(f"--warmup must be at least 1 step and shorter than training ({total} steps), "
                               f"not {warmup!r}")
    if clip_norm is not None and not (math.isfinite(clip_norm) and clip_norm > 0):
        raise SymbackpropError(f"--clip-norm must be a positive number, not {clip_norm!r}")
    return Schedule(kind, total, (step_size or 30) * steps_per_epoch, 0.1 if gamma is None else float(gamma),
                    warmup or 0, None if clip_norm is None else float(clip_norm))


@dataclass(frozen=True)
class Optimizer:
    """An update rule with its hyperparameters (``values``: symbol name → number) and default learning rate."""

    name: str
    rule: tuple  # ((target symbol, expression), ...) in the order applied
    state: tuple[str, ...]  # the state each parameter keeps: "m", "v", "b"
    default_lr: float
    values: tuple = field(default=())  # ((symbol name, value), ...)
    decoupled: bool = False  # AdamW: the decay applies to weights only (biases and norm parameters are not decayed)
    description: str = ""
    schedule: Schedule = field(default_factory=Schedule)
    note: str = ""  # a line under the rule in derive's text

    @property
    def plain(self) -> bool:
        """Plain SGD at a constant rate: the generated ``sgd_step`` does it."""
        return self.name == "sgd" and self.schedule.plain

    def with_schedule(self, schedule: Schedule) -> Optimizer:
        return Optimizer(self.name, self.rule, self.state, self.default_lr, self.values, self.decoupled,
                         self.description, schedule, self.note)

    def with_values(self, **given) -> Optimizer:
        """This optimizer with some hyperparameters given (``betas``, ``eps``, ``momentum``, ``alpha``,
        ``weight_decay``), each checked; one line naming the option at fault."""
        values = dict(self.values)
        for option, value in given.items():
            if value is None:
                continue
            names = OPTIONS[option]
            if option == "betas":
                if len(value) != 2 or not all(0 <= x < 1 for x in value):
                    raise SymbackpropError(f"--betas must be two numbers in [0, 1), e.g. 0.9,0.999, not {value!r}")
                if not {"beta1", "beta2"} <= set(values):
                    raise SymbackpropError(f"--betas is for adam and adamw, not {self.name}")
                values.update(beta1=float(value[0]), beta2=float(value[1]))
                continue
            (name,) = names
            if name not in values:
                users = ", ".join(o.name for o in REGISTRY.view().values() if name in dict(o.values))
                raise SymbackpropError(f"--{option.replace('_', '-')} is for {users}, not {self.name}")
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0) or \
                    (name == "epsilon" and value == 0) or (name == "alpha" and value >= 1):
                raise SymbackpropError(f"--{option.replace('_', '-')} must be a number of at least 0"
                                       f"{' (and below 1)' if name == 'alpha' else ''}"
                                       f"{', above 0' if name == 'epsilon' else ''}, not {value!r}")
            values[name] = float(value)
        return Optimizer(self.name, self.rule, self.state, self.default_lr, tuple(values.items()), self.decoupled,
                         self.description, self.schedule, self.note)

    def equations(self, decayed: bool = True) -> list[tuple[sp.Symbol, sp.Expr]]:
        """The rule in symbols; ``decayed=False`` for a parameter AdamW does not decay (λ = 0)."""
        if decayed or not self.decoupled:
            return list(self.rule)
        return [(k, e.subs(lam, 0)) for k, e in self.rule]

    def numeric(self, decayed: bool = True) -> list[tuple[sp.Symbol, sp.Expr]]:
        """The rule with the hyperparameters' numbers in (what code computes)."""
        subs = {sp.Symbol(k, positive=True): sp.Float(x) for k, x in self.values}
        return [(k, e.subs(subs)) for k, e in self.equations(decayed)]

    def text(self) -> str:
        """The update as ``derive --optimizer`` prints it: for a parameter P, its mean gradient g and step t."""
        head = (f"# update: {self.summary()}, after each batch, for every learned parameter P with g = dC_dP / m "
                "(the batch's mean gradient) at step t = 1, 2, ...; state starts at 0")
        names = {p: sp.Symbol("P"), **{sp.Symbol(k, real=True): sp.Symbol(f"{k}_P") for k in self.state}}
        lines = [head] + [f"{names.get(k, k)} ← {e.xreplace(names)}" for k, e in self.equations()]
        if self.note:
            lines.append(self.note)
        if self.decoupled:
            lines.append("(the weights W only; biases and norm parameters: lambda = 0)")
        if not self.schedule.plain:
            lines.insert(1, f"first: {self.schedule.text()}")
        return "\n".join(lines)

    def summary(self) -> str:
        """``adam (beta1 0.9, beta2 0.999, epsilon 1e-08)``: the name and its hyperparameters, then the schedule."""
        inner = ", ".join(f"{k} {x:g}" for k, x in self.values)
        out = f"{self.name} ({inner})" if inner else self.name
        sc = self.schedule
        extra = ([f"{sc.kind} schedule"] if sc.kind != "constant" else []) + (
            [f"warmup {sc.warmup} steps"] if sc.warmup else []) + (
            [f"clip-norm {sc.clip_norm:g}"] if sc.clip_norm is not None else [])
        return out + (f", {', '.join(extra)}" if extra else "")


OPTIONS = {"betas": ("beta1", "beta2"), "eps": ("epsilon",), "momentum": ("mu",), "alpha": ("alpha",),
           "weight_decay": ("lambda",)}

REGISTRY: Registry = Registry("optimizer")


def _adam(name: str, decoupled: bool) -> Optimizer:
    # lr·m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), in the paper's efficient order (Kingma & Ba, section
    # 2): lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m/(√v + ε·√(1 − β₂ᵗ)), the same number with one array operation fewer
    root = sp.sqrt(1 - beta2 ** t)
    step = lr * root / (1 - beta1 ** t) * m / (sp.sqrt(v) + eps * root)
    rule = ((m, beta1 * m + (1 - beta1) * g), (v, beta2 * v + (1 - beta2) * g ** 2),
            (p, (p * (1 - lr * lam) if decoupled else p) - step))
    values = (("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8)) + ((("lambda", 0.01),) if decoupled else ())
    what = "Adam with decoupled weight decay (weights only)" if decoupled else "Adam"
    note = ("(that is lr*m_hat/(sqrt(v_hat) + epsilon) with m_hat = m_P/(1 - beta1**t), v_hat = v_P/(1 - beta2**t), "
            "as torch.optim states it, in the paper's efficient order)")
    return Optimizer(name, rule, ("m", "v"), 1e-3, values, decoupled, what, note=note)


for _opt in (
    Optimizer("sgd", ((p, p - lr * g),), (), 0.05, description="plain stochastic gradient descent"),
    Optimizer("momentum", ((b, mu * b + g), (p, p - lr * b)), ("b",), 0.05, (("mu", 0.9),),
              description="SGD with momentum (torch.optim.SGD(momentum=...))"),
    Optimizer("nesterov", ((b, mu * b + g), (p, p - lr * (g + mu * b))), ("b",), 0.05, (("mu", 0.9),),
              description="SGD with Nesterov momentum"),
    Optimizer("rmsprop", ((v, alpha * v + (1 - alpha) * g ** 2), (p, p - lr * g / (sp.sqrt(v) + eps))), ("v",), 0.01,
              (("alpha", 0.99), ("epsilon", 1e-8)), description="RMSprop"),
    _adam("adam", False),
    _adam("adamw", True),
):
    REGISTRY.register(_opt.name, _opt)


def get_optimizer(name: str | Optimizer | None) -> Optimizer:
    """An optimizer by name (default sgd), or one line naming those there are."""
    if isinstance(name, Optimizer):
        return name
    return REGISTRY.get(name or "sgd")


def state_key(kind: str, param: str) -> str:
    """The name of a parameter's state variable: ``m_W1``, ``v_W1``, ``b_W1`` (generated, never parsed)."""
    return f"{kind}_{param}"
