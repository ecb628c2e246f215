"""A tiny name -> object registry: every named part of a network is chosen through one of these."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Generic, TypeVar

from resnet_lab.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps the names used in configs to classes or factories, with a clear error for typos."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@SHORTCUTS.register("gate")`` above a class or function."""

        def add(item: T) -> T:
            self.add(name, item)
            return item

        return add

    def add(self, name: str, item: T) -> None:
        """A name taken is refused (the second would replace the first), naming both: a user's
        mistake in their own variant, told in one line by every tool."""
        if name in self._items:
            raise ConfigError(
                f"{self.kind} '{name}' is registered twice, by {_origin(self._items[name])} and "
                f"{_origin(item)}: give the new one a name of its own"
            )
        self._items[name] = item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def reject_ignored(
        self,
        selector: str,
        chosen: str,
        group: str,
        values: Any,
        defaults: Mapping[str, Any],
        uses: Callable[[T], Collection[str]],
    ) -> None:
        """Refuse an option of ``group`` set away from its default that the variant ``chosen``
        (by ``selector``) would silently ignore, naming the variants that read it.

        ``defaults`` maps the variant-specific option names to their defaults; ``uses(item)``
        gives the names an item reads; ``values`` holds the options as attributes.
        """
        used = uses(self.get(chosen))
        for name, default in defaults.items():
            value = getattr(values, name)
            if name in used or value == default:
                continue
            users = [n for n in self if name in uses(self.get(n))]
            raise ConfigError(
                f"{group}.{name}={value} has no meaning for {selector}={chosen}; "
                f"it is used by {selector}={' / '.join(users)}"
            )


def _origin(item: object) -> str:
    """Where a registered class or factory is defined (``module.Name``), else its value."""
    name = getattr(item, "__qualname__", None)
    return f"{getattr(item, '__module__', '?')}.{name}" if name else repr(item)
