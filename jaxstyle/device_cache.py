"""Values derived from an object and kept only while it lives: the weights' arrays on
the device, the kernels derived from them, the programs built on them.

One helper instead of caches keyed by `id()` (an id is reused once its object is gone)
and never freed: the entries of an owner go with the owner.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")


class PerObject:
  """`cache.get(owner, key, make)`: `make()` computed once per (owner, key).

  Owners are held weakly (a `weakref.WeakKeyDictionary`), so they must hash by
  identity: the weights classes are dataclasses with `eq=False`.
  """

  def __init__(self) -> None:
    self._entries: weakref.WeakKeyDictionary[Any, dict[Hashable, Any]] = (
        weakref.WeakKeyDictionary())

  def get(self, owner: Any, key: Hashable, make: Callable[[], T]) -> T:
    entries = self._entries.setdefault(owner, {})
    if key not in entries:
      entries[key] = make()
    return entries[key]

  def owners(self) -> int:
    """How many owners have entries (for tests)."""
    return len(self._entries)
