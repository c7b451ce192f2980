"""Calling a user's backprop as written: a function or a ``Class.method``, each argument found by its name (X, y,
params, a cache made by the module's forward function, reg), and its answer read back as gradients by name (a
dict, ``(loss, grads)``, or per-sample ``(nabla_b, nabla_w)`` lists, fed one sample at a time)."""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import UserCodeError

# the argument names check fills, by role (a name in any other role is left to its default)
ROLES = {
    "X": ("x", "X", "a0", "A0", "inputs", "X_batch", "x_batch", "features"),
    "Y": ("y", "Y", "labels", "label", "targets", "target", "y_batch", "Y_batch", "t", "T"),
    "params": ("params", "parameters", "P", "p", "theta", "model_params"),
    "cache": ("cache", "caches"),
    "AL": ("AL", "A_L", "Yhat", "y_hat"),
    "reg": ("reg", "lambd", "lambda_", "lam", "reg_strength", "l2_reg"),
}
ROLE_OF = {name: role for role, names in ROLES.items() for name in names}
FORWARDS = ("forward", "forward_propagation", "L_model_forward", "forward_pass", "model_forward")
# a class's constructor arguments, by what of the network they take
SIZES = {
    "all": ("sizes", "layer_sizes", "layer_dims", "layers_dims", "layers"),
    "input": ("input_size", "input_dim", "n_x", "n_in", "n_inputs", "num_inputs", "D", "in_features"),
    "hidden": ("hidden_size", "n_h", "H", "hidden_dim", "num_hidden"),
    "hiddens": ("hidden_dims", "hidden_sizes", "hidden_layers"),
    "output": ("output_size", "num_classes", "n_y", "n_out", "n_outputs", "output_dim", "C", "out_features"),
}
HELP = ("check fills X/x, y/Y/labels, params/parameters, cache/caches (from the module's forward function), AL "
        "and reg/lambd (--reg)")


def _signature(fn) -> list[inspect.Parameter] | None:
    try:
        return [q for q in inspect.signature(fn).parameters.values()
                if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        return None


def _required(q: inspect.Parameter) -> bool:
    return q.default is inspect.Parameter.empty


class Callee:
    """The user's code as ``callee(layout, params, X, Y) -> dict or (loss, dict)`` in the layout's names;
    ``notes`` say how it was called (filled as it learns: per-sample answers, the forward function used)."""

    def __init__(self, fn, label: str, network, module=None, reg: float | None = None, forward: str | None = None,
                 instance_of=None):
        self.fn, self.label, self.network, self.module, self.reg = fn, label, network, module, reg
        self.forward_name, self.cls = forward, instance_of
        self.notes: list[str] = []
        self.per_sample = False
        self.args = _signature(fn)
        self.named = self.args is not None and any(q.name in ROLE_OF for q in self.args)
        if self.named:
            for q in self.args:
                if q.name not in ROLE_OF and _required(q):
                    raise UserCodeError(f"{label}: cannot fill its argument '{q.name}' ({HELP})")
        for q in self.args or ():
            if ROLE_OF.get(q.name) == "reg" and reg is None and _required(q):
                self.notes.append(f"your {q.name} is given 0: --reg R checks the regularisation too")
        self.forward = self._forward() if self.named and any(
            ROLE_OF.get(q.name) in ("cache", "AL") for q in self.args) else None

    # -- how each argument is made ---------------------------------------------------------------------------
    def _forward(self):
        """The module's forward function: ``--forward NAME``, the backward function's name with ``forward``,
        then the usual names, then the one ``*_forward``."""
        names = vars(self.module) if self.module is not None else {}
        if self.forward_name:
            fn = names.get(self.forward_name)
            if not callable(fn):
                raise UserCodeError(f"--forward {self.forward_name}: the module has no such function")
            return fn
        own = getattr(self.fn, "__name__", "")
        tried = [own.replace("backward", "forward")] if "backward" in own else []
        tried += list(FORWARDS) + sorted(n for n in names if n.endswith("_forward"))
        for name in tried:
            if callable(names.get(name)) and name != own:
                self.notes.append(f"the cache is made by your {name}")
                return names[name]
        raise UserCodeError(f"{self.label} takes a cache, but the module has no forward function ({', '.join(FORWARDS)}"
                            " or *_forward): name it with --forward NAME")

    def _values(self, params, X, Y) -> dict:
        values = {"X": X, "Y": Y, "params": params, "reg": 0.0 if self.reg is None else self.reg}
        if self.forward is not None:
            out = self._call(self.forward, _signature(self.forward), values)
            values["AL"] = out[0] if isinstance(out, tuple) else out
            values["cache"] = out[-1] if isinstance(out, tuple) else out
        return values

    def _call(self, fn, args, values):
        if args is None or not any(q.name in ROLE_OF for q in args):  # fn(params, X, Y), as before
            return fn(values["params"], values["X"], values["Y"])
        kwargs, positional = {}, []
        for q in args:
            role = ROLE_OF.get(q.name)
            if role is None or (role == "reg" and self.reg is None and not _required(q)):
                continue
            if q.kind == q.POSITIONAL_ONLY:
                positional.append(values[role])
            else:
                kwargs[q.name] = values[role]
        return fn(*positional, **kwargs)

    # -- one call, and the answer read back ------------------------------------------------------------------
    def __call__(self, layout, params, X, Y):
        if self.cls is not None:
            layout.place(self.fn.__self__, params)
        out = self._call(self.fn, self.args, self._values(params, X, Y))
        if not _pair_of_lists(out):
            return out
        if not self.per_sample:
            self.per_sample = True
            self.notes.append("your function answers for one sample (nabla_b, nabla_w): it is fed one sample at a "
                              "time and the mean of its gradients over the batch compared (as a mini-batch update "
                              "uses them: the learning rate over the batch size times their sum)")
        m = layout.samples(X)
        if m == 1:
            return layout.from_lists(*out)
        total = None
        for j in range(m):
            x, y = layout.sample(X, Y, j)
            one = self._call(self.fn, self.args, self._values(params, x, y))
            if not _pair_of_lists(one):
                raise UserCodeError(f"{self.label} returned {type(one).__name__} for one sample; expected "
                                    "(nabla_b, nabla_w) as for the others")
            one = layout.from_lists(*one)
            total = one if total is None else {k: total[k] + np.asarray(v, dtype=float) for k, v in one.items()}
        return {k: np.asarray(v, dtype=float) / m for k, v in total.items()}


def _pair_of_lists(out) -> bool:
    return isinstance(out, tuple) and len(out) == 2 and all(isinstance(x, (list, tuple)) for x in out)


def instance(cls, network, reg: float | None, label: str):
    """The user's class built with its own ``__init__`` from the network's sizes (and ``reg``, float64)."""
    widths = list(network.widths())
    fill = {"all": widths, "input": widths[0], "hiddens": widths[1:-1], "output": widths[-1]}
    if len(widths) == 3:
        fill["hidden"] = widths[1]
    kwargs = {}
    for q in (_signature(cls.__init__) or [None])[1:]:  # a constructor Python cannot inspect: called bare
        kind = next((k for k, names in SIZES.items() if q.name in names), None)
        if kind in fill:
            kwargs[q.name] = fill[kind]
        elif q.name == "dtype":
            kwargs[q.name] = np.float64
        elif ROLE_OF.get(q.name) == "reg" and reg is not None:
            kwargs[q.name] = reg
        elif _required(q):
            raise UserCodeError(f"{label}: cannot fill {cls.__name__}.__init__'s argument '{q.name}' (check fills "
                                "sizes, input_size/hidden_size/output_size, input_dim/hidden_dims/num_classes, dtype "
                                "and reg)")
    return cls(**kwargs)
