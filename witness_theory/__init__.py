"""witness-theory: the simplex witness certificate for exact constant collapse in VAEs.

The exact float64 functions live in :mod:`witness_theory.core` (re-exported here); the
theorems of ``docs/theory.md`` (the package's own theory document) are executable checks in
:mod:`witness_theory.theorems` (``LEDGER``, ``T1`` ... ``T13``, ``T2H``, ``check_all``).
The held-out certificates are in :mod:`witness_theory.heldout`, certified information (T13) in
:mod:`witness_theory.information`, T11's frontier in :mod:`witness_theory.frontier`, T12's
linear VAE in :mod:`witness_theory.linear_vae`, MI and active-unit references in
:mod:`witness_theory.collapse_metrics`, and the package's defaults in
:mod:`witness_theory.defaults`.

The names are loaded on first use (PEP 562), so ``import witness_theory.defaults`` costs no numpy
or scipy: ``empirical.config`` reads its defaults from there and stays a fast leaf.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# the re-exported modules, in the order their names are looked up; each module's own __all__ is
# the only list of its public names (io re-exports just the loader)
_REEXPORTED = ("core", "heldout", "information", "theorems", "defaults")
_IO_NAMES = ("load_array",)

if TYPE_CHECKING:   # the same names, for type checkers (which do not run __getattr__)
    from .core import *  # noqa: F403
    from .defaults import *  # noqa: F403
    from .heldout import *  # noqa: F403
    from .information import *  # noqa: F403
    from .io import load_array  # noqa: F401
    from .theorems import *  # noqa: F403


def _all() -> list[str]:
    names = [n for m in _REEXPORTED for n in importlib.import_module(f".{m}", __name__).__all__]
    return list(dict.fromkeys(names + list(_IO_NAMES)))


def __getattr__(name: str) -> Any:
    if name == "__all__":
        value: Any = _all()
    elif name in _IO_NAMES:
        value = getattr(importlib.import_module(".io", __name__), name)
    else:
        for module in _REEXPORTED:
            mod = importlib.import_module(f".{module}", __name__)
            if name in mod.__all__:
                value = getattr(mod, name)
                break
        else:
            try:   # a submodule: witness_theory.frontier after a bare `import witness_theory`
                value = importlib.import_module(f".{name}", __name__)
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module 'witness_theory' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_all()))
