"""``--set KEY=VALUE`` overrides for the experiment config dataclasses (one parser for all).

A key must name an existing field (else ValueError listing the valid keys); the value is
parsed by the field's annotation: int, float, bool, str, ``X | None`` and tuples of those
written as comma-separated lists (``hidden=256,128``).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _annotation(field: dataclasses.Field) -> str:
    t = field.type
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def _scalar(base: str, text: str):
    if base == "int":
        return int(text)
    if base == "float":
        return float(text)
    if base == "bool":
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError(text)
        return text.lower() in _TRUE
    return text


def parse_value(field: dataclasses.Field, text: str):
    """Parse ``text`` as a value of ``field`` (by its annotation)."""
    annotation = _annotation(field).replace(" ", "")
    text = text.strip()
    optional = "|None" in annotation or annotation.startswith("Optional[")
    base = annotation.replace("|None", "").removeprefix("Optional[").rstrip("]") if optional else annotation
    if optional and text.lower() in ("none", "null", ""):
        return None
    try:
        if base.startswith("tuple["):
            item = base[len("tuple["):].split(",")[0].rstrip("]")
            parts = [s.strip() for s in text.strip("()").split(",") if s.strip()]
            return tuple(_scalar(item, s) for s in parts)
        return _scalar(base, text)
    except ValueError:
        raise ValueError(f"--set {field.name}={text!r}: expected {_annotation(field)}") from None


def apply_overrides(config, overrides: Sequence[str] | None):
    """A copy of the dataclass ``config`` with ``["key=value", ...]`` applied."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in fields:
            raise ValueError(f"--set {key}: not a field of {type(config).__name__}; valid keys: {', '.join(fields)}")
        changes[key] = parse_value(fields[key], value)
    return dataclasses.replace(config, **changes)
