"""Registries: layers, activations, costs, backends and renderers, each with one lookup that suggests."""

from __future__ import annotations

from types import MappingProxyType

from .errors import SpecError, did_you_mean


class Registry:
    """Named entries with aliases; ``get`` raises one line naming the nearest name on a miss."""

    def __init__(self, what: str, error=SpecError):
        self.what, self.error = what, error
        self._entries: dict[str, object] = {}
        self._names: dict[str, str] = {}

    def register(self, name: str, entry, aliases=()) -> object:
        key = name.strip().lower()
        self._entries[key] = entry
        for alias in (key, *aliases):
            self._names[alias.strip().lower()] = key
        return entry

    def get(self, name: str):
        key = str(name).strip().lower()
        if key in self._names:
            return self._entries[self._names[key]]
        raise self.error(f"unknown {self.what} {str(name)!r}{did_you_mean(key, self._names)}"
                         f" (choose from {', '.join(self._entries)})")

    def items(self):
        return self._entries.items()

    def aliases(self) -> dict[str, object]:
        """Every name an entry is known by (its own and its aliases) -> the entry."""
        return {alias: self._entries[key] for alias, key in self._names.items()}

    def view(self) -> MappingProxyType:
        """A live, read-only ``name -> entry`` mapping."""
        return MappingProxyType(self._entries)


LAYERS = Registry("layer kind")
ACTIVATIONS = Registry("activation")
COSTS = Registry("cost")
BACKENDS = Registry("backend")
RENDERERS = Registry("format")
