"""Deriving backprop: the sweep into a Program, its views (Derivation) and its per-entry lowering."""

from .derivation import Chain, Derivation, LocalDerivative, derive

__all__ = ["Chain", "Derivation", "LocalDerivative", "derive"]
