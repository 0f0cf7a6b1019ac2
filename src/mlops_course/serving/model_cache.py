"""A model cache: loaded models, least recently used first out (chapter 16).

:class:`ModelCache` keeps loaded models in least-recently-used order within a
memory budget: a model's cost is what its loader says (for an ONNX model, its
file's size, the weights ONNX Runtime holds), and loading one that does not fit
evicts the least recently used until it does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


class DoesNotFit(RuntimeError):
    """A model larger than the whole cache budget."""


@dataclass
class CacheStats:
    """What the cache did since it started."""

    hits: int = 0
    loads: int = 0
    evictions: int = 0
    evicted: list = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts, and the keys evicted (oldest first)."""
        return {
            "hits": self.hits,
            "loads": self.loads,
            "evictions": self.evictions,
            "evicted": [list(k) if isinstance(k, tuple) else k for k in self.evicted],
        }


class ModelCache:
    """Loaded models by key, least recently used first out, within ``budget_bytes``.

    ``load(key)`` returns ``(model, size_bytes)``. Thread-safe; a model larger
    than the whole budget raises :class:`DoesNotFit` and evicts nothing.
    """

    def __init__(
        self, budget_bytes: int, load: Callable[[Hashable], tuple[Any, int]]
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be positive")
        self.budget = int(budget_bytes)
        self._load = load
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()
        self.on_evict: Callable[[Hashable], None] | None = None

    @property
    def used(self) -> int:
        """Bytes of the models held now."""
        return sum(size for _, size in self._items.values())

    def held(self) -> list[Hashable]:
        """Keys held, least recently used first."""
        return list(self._items)

    def get(self, key: Hashable) -> Any:
        """The model for ``key``, loaded (and others evicted) if needed."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.stats.hits += 1
                return self._items[key][0]
            model, size = self._load(key)
            if size > self.budget:
                raise DoesNotFit(
                    f"{key} needs {size:,} bytes, more than the budget {self.budget:,}"
                )
            while self._items and self.used + size > self.budget:
                old, _ = self._items.popitem(last=False)
                self.stats.evictions += 1
                self.stats.evicted.append(old)
                if self.on_evict is not None:
                    self.on_evict(old)
            self._items[key] = (model, size)
            self.stats.loads += 1
            return model
