"""Build, check and override the config tree of :mod:`empirical.config`.

:func:`resolve` builds the tree of a data set and a method: the defaults of
:mod:`empirical.config`, then the data set's registry entry (``empirical.data.registry``), then its
quick settings, then the user's overrides. Overrides are dotted ``section.key=value`` strings,
identical in every command::

    --set train.epochs=5 method.alpha=2 teacher.pca_dims=8 witness.scale=4

A key that does not exist fails with the list of valid keys. The value is parsed by the field's
annotation: int, float, bool, str, ``X | None`` and tuples written as comma lists (``256,128``).
:func:`replace` is the programmatic form (``replace(cfg, train__seed=3, method_name="rst")``);
:func:`config_to_dict` / :func:`config_from_dict` are the JSON round trip every run writes.

Layer: above ``empirical.config``, ``empirical.data`` and ``empirical.methods`` (it reads the
registries' names), below training.
"""
from __future__ import annotations

import dataclasses
import json
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from empirical.config import (
    COVARIANCE_TYPES,
    DECODERS,
    DERIVED_TEACHER_KEYS,
    DEVICES,
    EVAL_SPLITS,
    HELDOUT_MODES,
    MODEL_KINDS,
    OPTIMIZERS,
    PLACEMENT_KEYS,
    SCALINGS,
    SECTIONS,
    SELECTIONS,
    TOP_LEVEL,
    USER_CACHE,
    DataConfig,
    ExperimentConfig,
    TeacherConfig,
    TeacherSettings,
    teacher_cache_dir,
)
from empirical.data.registry import dataset_entry
from empirical.io import code_commit, machine, read_text, to_jsonable
from empirical.methods import METHODS, get_method, method_names

__all__ = ["resolve", "replace", "apply_overrides", "apply_section_overrides", "config_to_dict", "config_from_dict",
           "valid_keys", "parse_value", "search_config", "method_config", "validate", "dumps", "CHOICES", "dumps_toml",
           "file_overrides", "with_file_overrides", "preset_names", "preset_path", "preset_info", "provenance", "reproduce",
           "provenance_problems", "tree_changes", "ABSENT"]


# ---------------------------------------------------------------------------------------
# Parsing one value by the field's annotation
# ---------------------------------------------------------------------------------------

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _annotation(f: dataclasses.Field) -> str:
    t = f.type
    return (t if isinstance(t, str) else getattr(t, "__name__", str(t))).replace(" ", "")


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


def parse_value(f: dataclasses.Field, text: str, key: str | None = None):
    """Parse ``text`` as a value of the dataclass field ``f`` (by its annotation)."""
    annotation = _annotation(f)
    text = text.strip()
    optional = "|None" in annotation
    base = annotation.replace("|None", "")
    if optional and text.lower() in ("none", "null", ""):
        choices = CHOICES.get(key or "", ((), False))[0]
        if text.lower() not in choices:   # data.scaling=none is the scaling "none", not the default None
            return None
    try:
        if base.startswith("tuple["):
            item = base[len("tuple["):].split(",")[0].rstrip("]")
            parts = [s.strip() for s in text.strip("()").split(",") if s.strip()]
            return tuple(_scalar(item, s) for s in parts)
        return _scalar(base, text)
    except ValueError:
        raise ValueError(f"--set {key or f.name}={text!r}: expected {annotation}") from None


def _typed_value(f: dataclasses.Field, value, key: str):
    """A value given through a mapping (``resolve(overrides={...})``), checked against the field's
    annotation: text is parsed as on the command line; a wrong type is a ValueError naming the key
    (not a TypeError "'<' not supported" from the range checks)."""
    annotation = _annotation(f)
    base = annotation.replace("|None", "")
    if value is None:
        if "|None" in annotation:
            return None
    elif isinstance(value, str):
        return value if base == "str" else parse_value(f, value, key)
    elif base == "str" and isinstance(value, os.PathLike):
        return os.fspath(value)
    elif base == "bool" and isinstance(value, (bool, np.bool_)):
        return bool(value)
    elif base == "int" and isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    elif base == "float" and isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    elif base.startswith("tuple[") and isinstance(value, (tuple, list)):
        item = base[len("tuple["):].split(",")[0].rstrip("]")
        kinds = {"int": numbers.Integral, "float": numbers.Real, "str": str}.get(item, object)
        if all(isinstance(v, kinds) and not isinstance(v, (bool, np.bool_)) for v in value):
            return tuple(value)
    elif base.startswith("tuple[") and isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return (int(value),)
    raise ValueError(f"{key} must be {annotation}, got {type(value).__name__} {value!r:.60}")


# ---------------------------------------------------------------------------------------
# The tree: keys, overrides, dict round trip
# ---------------------------------------------------------------------------------------

def _fields(obj) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}


def valid_keys(config: ExperimentConfig) -> list[str]:
    """Every dotted key ``--set`` accepts for this config (its method's keys included)."""
    keys = list(TOP_LEVEL)
    for section in SECTIONS:
        keys += [f"{section}.{k}" for k in _fields(getattr(config, section))
                 if not (section == "teacher" and k in DERIVED_TEACHER_KEYS)]
    return keys


def _split_key(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"--set expects SECTION.KEY=VALUE (e.g. train.epochs=5), got {item!r}")
    key, value = item.split("=", 1)
    return key.strip().replace("-", "_"), value


def apply_overrides(config: ExperimentConfig, overrides: Sequence[str] | Mapping[str, Any] | None, *,
                    strict: bool = True) -> ExperimentConfig:
    """A copy of ``config`` with dotted overrides applied (strings ``"train.epochs=5"`` or a
    mapping of dotted keys to already-typed values). ``strict=False`` skips ``method.*`` keys the
    chosen method does not have (a data set's defaults name keys of several methods)."""
    items = list(overrides.items()) if isinstance(overrides, Mapping) else [(None, s) for s in overrides or ()]
    changes: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    settings = dict(config.method_settings)
    for key, value in items:
        if key is None:
            key, value = _split_key(value)
            typed = False
        else:
            typed = True
        section, _, name = key.partition(".")
        if not name and section in TOP_LEVEL:
            top[section] = value if typed else (None if value.strip().lower() in ("", "none") else value.strip())
            continue
        node = getattr(config, section, None) if section in SECTIONS else None
        fields = _fields(node)
        if section == "teacher" and name in DERIVED_TEACHER_KEYS:
            raise ValueError(f"--set {key}: the teacher search takes it from "
                             f"{'witness.scale' if name == 'witness_scale' else 'model.latent_dim'}; set that instead")
        if section == "method":
            known = _method_keys()
            if name not in known:
                if not strict:
                    continue
                raise ValueError(f"--set {key}: unknown key; valid keys: {', '.join(valid_keys(config))} (and the "
                                 f"method keys of other methods: {', '.join(sorted(known))})")
            settings[name] = (value, typed)
            if name not in fields:       # a key of another method: kept for a grid that switches to it
                continue
        elif node is None:    # not a section of the tree: a typo, or a command's own [section]
            raise ValueError(f"--set {key}: unknown key: {section!r} is not a section of the config tree (its sections: "
                             f"{', '.join(SECTIONS)}; at the top: {', '.join(TOP_LEVEL)}); a command's own section, such as "
                             f"[compare] or [claims], is read only by that command: run it with this --config or --set")
        elif name not in fields:
            raise ValueError(f"--set {key}: unknown key; valid keys: {', '.join(valid_keys(config))}")
        changes.setdefault(section, {})[name] = (_typed_value(fields[name], value, key) if typed
                                                 else parse_value(fields[name], value, key))
    steps = [*config.resolved_from.get("steps", []),
             *([["set", [s if k is None else [k, to_jsonable(s)] for k, s in items]]] if items else [])]
    new = dataclasses.replace(config, **top, method_settings=settings,
                              resolved_from={**config.resolved_from, "steps": steps} if config.resolved_from else {})
    for section, values in changes.items():
        new = dataclasses.replace(new, **{section: dataclasses.replace(getattr(new, section), **values)})
    return validate(new)


def apply_section_overrides(obj, overrides: Sequence[str], section: str):
    """Overrides ``section.key=value`` of an experiment's own config dataclass (e.g. ``claims.``)."""
    fields = _fields(obj)
    changes = {}
    for item in overrides:
        key, value = _split_key(item)
        name = key.partition(".")[2]
        if name not in fields:
            raise ValueError(f"--set {key}: unknown key; valid {section} keys: "
                             f"{', '.join(f'{section}.{k}' for k in fields)}")
        changes[name] = parse_value(fields[name], value, key)
    return dataclasses.replace(obj, **changes)


def replace(config: ExperimentConfig, **sections) -> ExperimentConfig:
    """A copy with whole sections or ``section__key`` values changed, e.g.
    ``replace(cfg, train__seed=3, method_name="rst")`` (a new method name re-derives ``method``
    from the ``method.*`` settings given so far)."""
    whole = {k: v for k, v in sections.items() if "__" not in k}
    new = dataclasses.replace(config, **whole)
    if config.resolved_from:
        step = ["replace", {k: to_jsonable(v) for k, v in sections.items()}]   # a section dataclass: a dict
        new = dataclasses.replace(new, resolved_from={**config.resolved_from,
                                                      "steps": [*config.resolved_from.get("steps", []), step]})
    if "method_name" in whole and "method" not in whole and type(new.method) is not get_method(new.method_name).Config:
        new = dataclasses.replace(new, method=method_config(new.method_name, new.method_settings))
    for k, v in sections.items():
        if "__" in k:
            section, name = k.split("__", 1)
            if section == "method":
                new = dataclasses.replace(new, method_settings={**new.method_settings, name: (v, True)})
            new = dataclasses.replace(new, **{section: dataclasses.replace(getattr(new, section), **{name: v})})
    return validate(new)


def _method_keys() -> set[str]:
    method_names()  # the built-in methods (registered when empirical.methods is imported)
    return {f.name for cls in METHODS.values() for f in dataclasses.fields(cls.Config)}


def method_config(name: str, settings: Mapping[str, tuple[Any, bool]]):
    """The Config of method ``name`` with the recorded ``method.*`` settings it has applied
    (values are (value, already_typed) pairs; strings are parsed by the field's annotation)."""
    cfg = get_method(name).Config()
    fields = _fields(cfg)
    values = {k: v if typed else parse_value(fields[k], v, f"method.{k}")
              for k, (v, typed) in settings.items() if k in fields}
    return dataclasses.replace(cfg, **values)


def search_config(config: ExperimentConfig) -> TeacherConfig:
    """The plain TeacherConfig the search runs with (witness scale and latent size filled in)."""
    values = {f.name: getattr(config.teacher, f.name) for f in dataclasses.fields(TeacherConfig)}
    values.update(witness_scale=float(config.witness.scale), latent_dim=int(config.model.latent_dim))
    return TeacherConfig(**values)


def config_to_dict(config: ExperimentConfig) -> dict:
    """JSON-ready nested dict (the resolved config every run writes)."""
    out: dict[str, Any] = {"method_name": config.method_name}  # method_settings: derivation state, not written
    for section in SECTIONS:
        out[section] = dataclasses.asdict(getattr(config, section))
    out["out_dir"] = config.out_dir
    return out


def config_from_dict(d: Mapping[str, Any]) -> ExperimentConfig:
    """Rebuild an ExperimentConfig from :func:`config_to_dict` output (lists back to tuples)."""
    unknown = set(d) - set(SECTIONS) - {"method_name", "out_dir"}
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}; valid: method_name, out_dir, {', '.join(SECTIONS)}")
    method_cls = get_method(d.get("method_name", "vanilla"))
    proto = ExperimentConfig(method=method_cls.Config(), method_name=method_cls.name)
    kw: dict[str, Any] = {"method_name": method_cls.name, "out_dir": d.get("out_dir")}
    for section in SECTIONS:
        node = getattr(proto, section)
        values = dict(d.get(section) or {})
        names = _fields(node)
        bad = set(values) - set(names)
        if bad:
            raise ValueError(f"unknown keys {sorted(bad)} in config section {section!r}; valid: {', '.join(names)}")
        kw[section] = dataclasses.replace(node, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    return validate(ExperimentConfig(**kw))


def validate(c: ExperimentConfig) -> ExperimentConfig:
    """Range checks that name the key and the fix (ValueError)."""
    method_cls = get_method(c.method_name)
    if not isinstance(c.method, method_cls.Config):
        raise ValueError(f"method config is {type(c.method).__name__}, but method {c.method_name!r} takes "
                         f"{method_cls.Config.__name__}; build configs with empirical.config.resolve")
    t, m = c.train, c.model
    if m.kind not in MODEL_KINDS:
        raise ValueError(f"model.kind must be one of {', '.join(MODEL_KINDS)}, got {m.kind!r}")
    if m.kind == "linear" and m.decoder != "gaussian":
        raise ValueError("model.kind=linear needs model.decoder=gaussian (a fixed-variance Gaussian likelihood)")
    if m.decoder not in DECODERS:
        raise ValueError(f"model.decoder must be one of {', '.join(DECODERS)}, got {m.decoder!r}")
    if t.device not in DEVICES and not str(t.device).startswith("cuda:"):
        raise ValueError(f"train.device must be auto, cpu or cuda, got {t.device!r}")
    if t.eval_split not in EVAL_SPLITS:
        raise ValueError(f"train.eval_split must be 'train' or 'test', got {t.eval_split!r}")
    if not 0.0 < t.delta < 1.0:
        raise ValueError(f"train.delta (the error rate of the certified-information verdicts) must lie in (0, 1), "
                         f"got {t.delta}")
    for name in ("epochs", "batch_size", "eval_every", "mi_batch_size", "mi_full_max_epoch", "heldout_fit_rows",
                 "posterior_draws"):
        if getattr(t, name) < 1:
            raise ValueError(f"train.{name} must be >= 1, got {getattr(t, name)}")
    if m.latent_dim < 1:
        raise ValueError(f"model.latent_dim must be >= 1, got {m.latent_dim}")
    if not t.checkpoint_seconds >= 0:   # NaN too
        raise ValueError(f"train.checkpoint_seconds must be >= 0 (0: a checkpoint after every epoch), "
                         f"got {t.checkpoint_seconds}")
    if t.cpu_threads < 0:
        raise ValueError(f"train.cpu_threads must be >= 0, got {t.cpu_threads}")
    if not t.lr > 0 or not c.witness.scale > 0:
        raise ValueError(f"train.lr and witness.scale must be > 0, got {t.lr}, {c.witness.scale}")
    if t.kl_weight < 0:
        raise ValueError(f"train.kl_weight must be >= 0, got {t.kl_weight}")
    if not 0 <= t.momentum < 1 or (t.momentum and t.optimizer != "rmsprop"):
        raise ValueError(f"train.momentum must lie in [0, 1) and needs train.optimizer=rmsprop (Adam has its own "
                         f"betas), got {t.momentum} with {t.optimizer}")
    if not t.weight_decay >= 0:
        raise ValueError(f"train.weight_decay must be >= 0, got {t.weight_decay}")
    if t.grad_clip is not None and not t.grad_clip > 0:
        raise ValueError(f"train.grad_clip must be > 0 or none (no clipping), got {t.grad_clip}")
    if not m.decoder_variance > 0:
        raise ValueError(f"model.decoder_variance must be > 0, got {m.decoder_variance}")
    if not m.hidden:
        raise ValueError("model.hidden must name at least one layer width, e.g. model.hidden=256,128")
    _check_choices(c)
    cache = c.teacher.cache
    if cache is not None and cache != USER_CACHE and not Path(cache).is_absolute():
        # a relative cache directory is made absolute now, so the written config (and every
        # checkpoint's copy of it) names the directory the run used, whatever the working directory later
        c = dataclasses.replace(c, teacher=dataclasses.replace(c.teacher, cache=str(teacher_cache_dir(cache))))
    if c.teacher.file and not Path(c.teacher.file).expanduser().is_absolute():   # the same for a teacher file
        c = dataclasses.replace(c, teacher=dataclasses.replace(c.teacher, file=str(Path(c.teacher.file).expanduser().resolve())))
    if c.data.limit is not None and c.data.limit < 1:
        raise ValueError(f"data.limit must be >= 1 or none, got {c.data.limit}")
    method_cls.validate(c.method)
    return c


#: Every config value with a fixed set of choices: key -> (choices, None allowed). Checked when a
#: config resolves (``config --set data.scaling=foo`` fails there, not at training).
CHOICES: dict[str, tuple[tuple[str, ...], bool]] = {
    "data.scaling": (SCALINGS, True), "teacher.selection": (SELECTIONS, False),
    "teacher.heldout": (HELDOUT_MODES, False), "teacher.covariance_types": (COVARIANCE_TYPES, False),
    "train.optimizer": (OPTIMIZERS, False)}


def _check_choices(c: ExperimentConfig) -> None:
    for key, (choices, none_ok) in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(c, section), name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if v is None and none_ok:
                continue
            if v not in choices:
                each = " each" if isinstance(value, tuple) else ""
                raise ValueError(f"{key} must{each} be one of {', '.join(choices)}, got {v!r}; "
                                 f"e.g. --set {key}={choices[0] if key != 'data.scaling' else 'minmax'}")


def resolve(dataset: str = "digits", method: str = "vanilla", *, quick: bool = False,
            overrides: Sequence[str] | Mapping[str, Any] | None = None) -> ExperimentConfig:
    """The resolved config of ``dataset`` trained with ``method``: defaults, then the data set's
    registry entry, then its quick settings (``quick``), then ``overrides``."""
    method_cls = get_method(method)
    entry = dataset_entry(dataset)
    base = ExperimentConfig(data=DataConfig(name=entry.name if entry.registered else str(dataset)),
                            teacher=TeacherSettings(**dataclasses.asdict(entry.teacher_grid)),
                            method=method_cls.Config(), method_name=method_cls.name)
    base = apply_overrides(base, entry.defaults, strict=False)
    if quick:
        base = apply_overrides(base, entry.quick, strict=False)
    base = dataclasses.replace(base, resolved_from={"dataset": str(dataset), "method": method, "quick": bool(quick),
                                                    "steps": []})
    return apply_overrides(base, overrides)


def dumps(config: ExperimentConfig) -> str:
    """The resolved config as indented JSON (what `python -m empirical config` prints)."""
    return json.dumps(to_jsonable(config_to_dict(config)), indent=2)


# ---------------------------------------------------------------------------------------
# Config files (TOML) and presets
# ---------------------------------------------------------------------------------------

#: The presets shipped with the package: one TOML file each in this directory (the only list of them).
PRESETS_DIR = Path(__file__).resolve().parent / "presets"
#: A file's table of metadata (name, summary, the source of each number); not config keys.
META_TABLE = "preset"
#: TOML has no null: this string stands for None (an optional key set to "unset"), as ``--set key=null``.
NULL = "null"


def _as_text(value: Any, key: str, where: str) -> str:
    """One TOML value as the text ``--set`` parses (so a file is checked exactly as ``--set``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    raise ValueError(f"{where}: {key} = {value!r:.60} is not a number, string, boolean or list of them")


def _read_toml(p: Path) -> dict[str, Any]:
    import tomllib  # stdlib (3.11+); imported here because Python 3.10 (supported) lacks it

    text = read_text(p, "config")   # the regular-file gate: a named pipe never blocks --config
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {p}: not valid TOML ({exc})") from None


def file_overrides(path: str | os.PathLike, data: Mapping[str, Any] | None = None) -> list[str]:
    """The ``section.key=value`` overrides a TOML config file sets (its ``[preset]`` table aside),
    in the file's order. Tables are the config sections (``[train]``, ``[method]``, ...) and the
    commands' own ones (``[compare]``, ``[claims]``, ...); ``out_dir`` may stand at the top.
    ``data``: the file already parsed."""
    p = Path(path)
    data = _read_toml(p) if data is None else data
    out = []
    for section, body in data.items():
        if section == META_TABLE:
            continue
        if not isinstance(body, dict):
            out.append(f"{section}={_as_text(body, section, f'config file {p}')}")
            continue
        for key, value in body.items():
            if isinstance(value, dict):
                raise ValueError(f"config file {p}: [{section}.{key}] is a nested table; write {section}.{key}.KEY "
                                 f"as keys of [{section}] (the same dotted keys as --set)")
            out.append(f"{section}.{key}={_as_text(value, f'{section}.{key}', f'config file {p}')}")
    return out


def with_file_overrides(config: ExperimentConfig, overrides: Sequence[str], path: str | os.PathLike) -> ExperimentConfig:
    """:func:`apply_overrides` of a file's tree keys; every error (unknown key, bad value, out of
    range) names the file."""
    return _naming_file(path, apply_overrides, config, overrides)


def with_file_section_overrides(obj, overrides: Sequence[str], section: str, path: str | os.PathLike):
    """:func:`apply_section_overrides` of a file's ``[section]`` keys (an experiment's own, e.g.
    ``[compare]``); every error names the file, as :func:`with_file_overrides` does for the tree."""
    return _naming_file(path, apply_section_overrides, obj, overrides, section)


def _naming_file(path: str | os.PathLike, apply, *args):
    """``apply(*args)`` with a ValueError re-raised as 'config file PATH: ...'."""
    try:
        return apply(*args)
    except ValueError as exc:
        message = str(exc).removeprefix("--set ")   # the key's own messages are worded for the command line
        raise ValueError(f"config file {path}: {message}") from None


def _toml_value(value: Any) -> str:
    if value is None:
        return json.dumps(NULL)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if np.isnan(value):
            return "nan"
        return repr(value) if np.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))   # a JSON string of printable text is a TOML basic string


def dumps_toml(config: ExperimentConfig) -> str:
    """The resolved tree as a TOML config file that :func:`file_overrides` loads back to the same
    tree (with the same ``--method``). Written here because the standard library reads TOML but does
    not write it, and the tree needs only scalars and flat arrays (no dependency for twenty lines)."""
    lines = [f"# python -m empirical ... --method {config.method_name} --config THIS_FILE", ""]
    d = config_to_dict(config)
    if d["out_dir"] is not None:
        lines += [f"out_dir = {_toml_value(d['out_dir'])}", ""]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for key, value in d[section].items():
            if not (section == "teacher" and key in DERIVED_TEACHER_KEYS):
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    """The file of a shipped preset (``--preset NAME``)."""
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"--preset {name}: no such preset; the presets are {', '.join(preset_names())} "
                         f"(python -m empirical presets)")
    return path


def preset_info(name: str) -> dict[str, Any]:
    """A preset's ``[preset]`` table (summary, sources: key -> where its number comes from) and keys."""
    path = preset_path(name)
    data = _read_toml(path)
    meta = dict(data.get(META_TABLE, {}))
    return {"name": name, "summary": meta.get("summary", ""), "sources": dict(meta.get("sources", {})),
            "overrides": file_overrides(path, data), "path": str(path)}


# ---------------------------------------------------------------------------------------
# Provenance of recorded results: rebuild a tree with today's code
# ---------------------------------------------------------------------------------------

def provenance(config: ExperimentConfig) -> dict[str, Any]:
    """What a results file records of the tree it was made with: the package version, the command
    line, the resolved tree and how it was resolved (:func:`reproduce` rebuilds it later), the git
    commit of the code and whether it had uncommitted changes, and the machine."""
    import sys

    from witness_theory import __version__

    return {"package_version": __version__, "argv": list(sys.orig_argv),   # the interpreter's own command line
            "tree": to_jsonable(config_to_dict(config)), "resolved_from": to_jsonable(config.resolved_from),
            **code_commit(), "machine": machine()}


def reproduce(record: Mapping[str, Any]) -> ExperimentConfig:
    """The tree today's code resolves from a :func:`provenance` record's ``resolved_from``."""
    how = record["resolved_from"]
    config = resolve(how["dataset"], how["method"], quick=how["quick"])
    for kind, payload in how["steps"]:
        if kind == "set":   # "key=value" strings, or [key, typed value] pairs (apply_overrides records either)
            config = apply_overrides(config, dict(payload) if payload and isinstance(payload[0], list) else payload)
        else:
            whole = {k: (type(getattr(config, k))(**v) if isinstance(v, dict) and dataclasses.is_dataclass(getattr(config, k))
                         else v) for k, v in payload.items()}
            config = replace(config, **whole)
    return config


def provenance_problems(record: Mapping[str, Any] | None) -> list[str]:
    """Why a recorded tree cannot be reproduced by today's code (empty: it can): keys that no longer
    exist, and keys whose value today's code resolves differently from the same inputs (a default
    moved). Placement keys (where it ran) are not compared."""
    if not record or "tree" not in record or "resolved_from" not in record:
        return ["no provenance (written before results recorded how their config was resolved)"]
    try:
        config_from_dict(record["tree"])
    except ValueError as exc:
        return [f"the recorded tree does not load with today's code: {exc}"]
    try:
        today = to_jsonable(config_to_dict(reproduce(record)))
    except (ValueError, KeyError, TypeError) as exc:
        return [f"today's code cannot resolve the recorded inputs: {exc}"]
    skip = {f"{s}.{k}" if k else s for s, k in PLACEMENT_KEYS}
    return [f"{key}: not in the recorded tree (added since; today {value!r})" if old is ABSENT else
            f"{key}: recorded {old!r}, today's code resolves {value!r} (a default moved)"
            for key, (old, value) in tree_changes(record["tree"], today, ignore=skip).items()]


#: The value :func:`tree_changes` gives a key the older tree does not have.
ABSENT = object()


def tree_changes(old: Mapping[str, Any], new: Mapping[str, Any], *, ignore=()) -> dict[str, tuple[Any, Any]]:
    """Dotted keys of the tree dict ``new`` (:func:`config_to_dict` form) whose value in ``old``
    differs or is missing (then ``ABSENT``): ``{key: (old value, new value)}``, in ``new``'s order,
    ``ignore``'s keys left out. Used by resume (a checkpoint's config against the run's) and by the
    reproduction check of recorded results."""
    out: dict[str, tuple[Any, Any]] = {}
    for section, values in new.items():
        then = old.get(section, ABSENT)
        for key, value in (values.items() if isinstance(values, dict) else [("", values)]):
            dotted = f"{section}.{key}" if key else section
            if dotted in ignore:
                continue
            was = then if not key else then.get(key, ABSENT) if isinstance(then, Mapping) else ABSENT
            if was is ABSENT or was != value:
                out[dotted] = (was, value)
    return out
