"""One lazy registry for everything that is looked up by name.

Backends, tasks, checks, methods, generators, scorers and schedulers each get one
``Registry``. An entry is either the object itself or a ``"module:attr"`` string that is
imported on first use, so listing names never imports torch or vLLM. Third-party packages
add entries through the entry-point group ``syllabus.<kind>`` (for backends:
``syllabus.backends``) without syllabus knowing about them.

Example, registering a backend from another package::

    # in your package's pyproject.toml
    [project.entry-points."syllabus.backends"]
    mybackend = "my_pkg.backend:MyLLM"

    # or in code
    from syllabus.llm import BACKENDS
    BACKENDS.register("mybackend", "my_pkg.backend:MyLLM")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar, overload

from syllabus.errors import ConfigError, UnknownNameError

__all__ = ["Registry", "import_object"]

T = TypeVar("T")


def import_object(path: str) -> object:
    """Import ``"package.module:attr"`` (attr may be dotted) and return the attribute."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"Bad import path {path!r}: expected 'package.module:attr'.")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """A named collection of ``T`` with lazy entries and did-you-mean errors.

    >>> reg: Registry[int] = Registry("number")
    >>> reg.register("one", 1)
    1
    >>> reg.get("one")
    1
    >>> reg.get("on")
    Traceback (most recent call last):
    syllabus.errors.UnknownNameError: Unknown number 'on'. Did you mean one?
    """

    def __init__(self, kind: str, *, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T | str] = {}
        self._plugins_loaded = entry_point_group is None

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T | str) -> T | str: ...

    def register(self, name, obj=None):  # type: ignore[no-untyped-def]
        """Add ``obj`` (or a ``"module:attr"`` string) under ``name``; usable as a decorator."""
        if obj is None:
            def decorator(target: T) -> T:
                self._add(name, target)
                return target
            return decorator
        self._add(name, obj)
        return obj

    def _add(self, name: str, obj: T | str) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing is not obj and existing != obj:
            raise ConfigError(f"{self.kind} {name!r} is already registered; pick another name.")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """Return the entry, importing it on first use."""
        self._load_plugins()
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self._entries)
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_object(entry)  # type: ignore[assignment]
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        """All registered names, sorted, without importing any entry."""
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            # Store the import path, not the loaded object: plugins stay lazy too.
            self._entries.setdefault(ep.name, ep.value)
