"""The house rules of the import graph, read from the source with ``ast`` (no module is imported).

- Layers import only downward: a module may import its own layer or a lower one, never a higher
  one, with every import counted (those inside functions too). The order is :data:`LAYERS`, written
  only here; a module belongs to the layer of the longest prefix that names it.
- The import graph of both packages has no cycle (within a layer either).
- No private name (``_x``) of one module is used by another: neither ``from m import _x`` nor
  ``m._x`` on an imported module; and no private module (``pkg._m``) is imported from outside
  its package.
- ``import empirical.config`` is a leaf: it loads neither scikit-learn nor torch (it is timed by
  bench, not here; the check here is what it loads).

The checks are applied to synthetic sources as well, so that each can fail.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("witness_theory", "empirical")

#: Lowest first. A module may import modules of its own layer or of lower ones.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("witness_theory.defaults", "witness_theory.validation"),
    ("witness_theory.io", "witness_theory.ledger"),
    ("witness_theory.core", "witness_theory.collapse_metrics", "witness_theory.linear_vae"),
    ("witness_theory.frontier", "witness_theory.information"),
    ("witness_theory.heldout",),
    ("witness_theory.theorems",),
    ("witness_theory", "witness_theory.__main__"),            # the package's re-exports and its command line
    ("empirical.config",),                                    # the config tree: dataclasses and defaults
    ("empirical.io",),
    ("empirical.data", "empirical.models", "empirical.report"),
    ("empirical.methods",),
    ("empirical.configure",),                                 # resolve / --set / JSON round trip of the tree
    ("empirical.training", "empirical.monitor", "empirical.lightning"),
    ("empirical.sweep",),                                     # executors: take the worker, know no experiment
    ("empirical.experiments",),
    ("empirical.commands", "empirical.cli", "empirical.__main__", "empirical"),
)


def module_files(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _targets(module: str, is_package: bool, node: ast.AST, known: set[str]) -> Iterable[tuple[str, str | None]]:
    """(imported module, imported name or None) of one import statement, restricted to ``known``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _owner(alias.name, known), None
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            full = f"{source}.{alias.name}"
            if full in known:                      # `from pkg import submodule`
                yield full, None
            else:
                yield _owner(source, known), alias.name


def _owner(name: str, known: set[str]) -> str:
    while name and name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def import_edges(sources: dict[str, str], packages: dict[str, bool]) -> list[tuple[str, str, str | None, int]]:
    """(importer, imported module, imported name, line) for every import between the given modules."""
    known = set(sources)
    edges = []
    for module, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, name in _targets(module, packages[module], node, known):
                    if target in known and target != module:
                        edges.append((module, target, name, node.lineno))
    return edges


def layer_of(module: str, layers=LAYERS) -> int:
    best, found = -1, None
    for i, prefixes in enumerate(layers):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), i
    if found is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layers.py: add it to LAYERS")
    return found


def upward_edges(edges, layers=LAYERS) -> list[str]:
    return [f"{a} (layer {layer_of(a, layers)}) imports {b} (layer {layer_of(b, layers)}) at line {line}"
            for a, b, _, line in edges if layer_of(b, layers) > layer_of(a, layers)]


def cycles(edges) -> list[list[str]]:
    """The non-trivial strongly connected components (Tarjan; written here to keep the test
    dependency-free: the graph has ~80 nodes)."""
    graph: dict[str, set[str]] = {}
    for a, b, _, _ in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def private_uses(sources: dict[str, str], packages: dict[str, bool]) -> list[str]:
    """``from m import _x`` and ``m._x`` (m an imported module of the packages) across modules."""
    known = set(sources)
    found = []
    for module, text in sources.items():
        tree = ast.parse(text)
        aliases: dict[str, str] = {}      # local name -> module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in known:
                        aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    for target, name in _targets(module, packages[module], ast.ImportFrom(
                            module=node.module, names=[a], level=node.level), known):
                        if target == module or target not in known:
                            continue
                        last = target.rsplit(".", 1)[-1]
                        if last.startswith("_") and not last.startswith("__") and \
                                target.rsplit(".", 1)[0] != (module if packages[module] else module.rsplit(".", 1)[0]):
                            found.append(f"{module}:{node.lineno} imports the private module {target}")
                        if name is None:
                            aliases[a.asname or a.name] = target
                        elif name.startswith("_") and not name.startswith("__"):
                            found.append(f"{module}:{node.lineno} imports {target}.{name}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and aliases[node.value.id] != module):
                found.append(f"{module}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


def _read(root: Path = ROOT):
    files = module_files(root)
    return {m: p.read_text() for m, p in files.items()}, {m: p.name == "__init__.py" for m, p in files.items()}


SOURCES, IS_PACKAGE = _read()
EDGES = import_edges(SOURCES, IS_PACKAGE)


def test_every_module_has_a_layer():
    for module in SOURCES:
        layer_of(module)


def test_no_upward_import():
    assert upward_edges(EDGES) == []


def test_no_import_cycle():
    assert cycles(EDGES) == []


def test_no_private_name_across_modules():
    assert private_uses(SOURCES, IS_PACKAGE) == []


def test_config_is_a_leaf():
    code = ("import sys, empirical.config; "
            "print(sorted(m for m in ('torch', 'sklearn', 'numpy', 'scipy', 'empirical.data', 'empirical.methods') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- each check can fail
SYNTHETIC = {
    "pkg": "", "pkg.low": "from pkg.high import x\n", "pkg.high": "def f():\n    from pkg import low\n    return low._hidden\n",
    "pkg.other": "from pkg.low import _secret\n", "pkg.sub": "", "pkg.sub._inner": "",
    "pkg.sub.user": "from pkg.sub import _inner\n", "pkg.outside": "from pkg.sub._inner import x\n",
}
SYNTHETIC_PACKAGE = {m: m in ("pkg", "pkg.sub") for m in SYNTHETIC}
SYNTHETIC_LAYERS = (("pkg.low", "pkg.other", "pkg.sub", "pkg.outside"), ("pkg.high", "pkg"))


def test_checks_catch_a_synthetic_violation():
    edges = import_edges(SYNTHETIC, SYNTHETIC_PACKAGE)
    assert upward_edges(edges, SYNTHETIC_LAYERS) == ["pkg.low (layer 0) imports pkg.high (layer 1) at line 1"]
    assert cycles(edges) == [["pkg.high", "pkg.low"]]
    assert sorted(private_uses(SYNTHETIC, SYNTHETIC_PACKAGE)) == [   # pkg.sub.user may use its own package's _inner
        "pkg.high:3 uses pkg.low._hidden", "pkg.other:1 imports pkg.low._secret",
        "pkg.outside:1 imports the private module pkg.sub._inner"]
    with pytest.raises(AssertionError, match="no layer"):
        layer_of("elsewhere.module", SYNTHETIC_LAYERS)


# ---------------------------------------------------------------- each default written once
DEFAULT_PATTERNS = {   # a default -> the one place that writes it
    r"\b(scale|witness_scale|WITNESS_SCALE)\b[^=\n]*=\s*4\.0\b": "witness_theory.defaults",
    r"(?i)\blatent_dim\b[^=\n]*=\s*16\b|\"model\.latent_dim\":\s*16\b": "empirical.config",
    r"(?i)\bseeds\b[^=\n]*=\s*5\b|seeds_or_default\(args,\s*5\b": "empirical.config",
    r"\b(delta|DELTA)\b[^=\n]*=\s*0\.05\b": "witness_theory.defaults",
}


def places_writing(pattern: str, sources: dict[str, str]) -> list[str]:
    return sorted(m for m, text in sources.items() if re.search(pattern, text))


@pytest.mark.parametrize("pattern", sorted(DEFAULT_PATTERNS))
def test_each_default_is_written_once(pattern):
    assert places_writing(pattern, SOURCES) == [DEFAULT_PATTERNS[pattern]]
    assert len(re.findall(pattern, SOURCES[DEFAULT_PATTERNS[pattern]])) == 1


def test_default_check_can_fail():
    twice = {"a": "WITNESS_SCALE = 4.0\n", "b": "def f(x, scale: float = 4.0):\n    pass\n"}
    pattern = next(p for p, m in DEFAULT_PATTERNS.items() if "WITNESS_SCALE" in p)
    assert places_writing(pattern, twice) == ["a", "b"]
