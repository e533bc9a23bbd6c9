"""The method registry: name -> Method class. ``@register`` adds a class (a plug-in can live in
any module, a test file included); ``get_method`` looks one up with a clear error. The registry
knows no plug-in: the built-in ones register themselves when ``empirical.methods`` (the package,
imported before any of its modules) imports them."""
from __future__ import annotations

from empirical.methods.base import Method

__all__ = ["METHODS", "register", "get_method", "method_names"]

METHODS: dict[str, type[Method]] = {}

#: The order of the built-in methods in listings and tables (plug-ins follow in registration order).
BUILTIN_ORDER = ("vanilla", "rst", "rst-prefit", "rst-alpha-prefit", "kl-anneal", "free-bits", "aggressive",
                 "lr-vae", "hct")


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add ``cls`` under ``cls.name`` (a second class with the same name replaces
    the first, so a test can redefine its toy method)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute `name`")
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    try:
        return METHODS[str(name)]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(method_names())} "
                         "(python -m empirical methods lists them)") from None


def method_names() -> tuple[str, ...]:
    return tuple(n for n in BUILTIN_ORDER if n in METHODS) + tuple(n for n in METHODS if n not in BUILTIN_ORDER)

