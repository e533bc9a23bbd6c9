"""README.md and docs/*.md say only what the code does (issue 22: the house in order).

Cheap checks, no training:

- every ```python block runs as written, except the monitor example (docs/monitor_example.py
  verbatim, run by tests/test_readme_monitor_example.py) and blocks whose first line is
  ``# not run: <reason>`` (a reason from NOT_RUN_REASONS, used sparingly; such a block must still
  compile);
- every ``python -m empirical <cmd>`` and ``python -m witness_theory <cmd>`` names a real
  subcommand, and every ``python -m empirical`` command line without placeholders parses with the
  real argument parser;
- every key quoted with ``--set`` (or as a backticked ``section.key``) is a key the CLI accepts:
  the config tree's keys (``empirical.config.valid_keys``, what ``config --keys`` prints, over
  every built-in method) or an experiment's own keys (``claims.*``, ``compare.*``, ...);
- the ledger ids listed in README.md (the phrase "ledger (**T1-T13 and T2H**)") and in the
  ledger table of docs/theory.md are exactly ``witness_theory.LEDGER``'s;
- every repository path and markdown link the docs cite exists (links' #anchors included);
- README.md has at most 150 lines and its ten-line example has exactly ten lines.
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]
TEXTS = {p: p.read_text() for p in DOC_FILES}
MONITOR_EXAMPLE = (ROOT / "docs" / "monitor_example.py").read_text()

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
NOT_RUN = re.compile(r"\A# not run: (.+)\n")
NOT_RUN_REASONS = {"needs CUDA"}        # the only accepted reasons for a python block not to run
MAX_NOT_RUN = 2                         # "sparingly": at most this many such blocks in all the docs


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def fences(text: str, lang: str | None = None) -> list[str]:
    return [body for kind, body in FENCE.findall(text) if lang is None or kind == lang]


def prose(text: str) -> str:
    """The text outside fenced blocks (inline code and links live here)."""
    return FENCE.sub("", text)


def inline_spans(text: str) -> list[str]:
    return INLINE.findall(prose(text).replace("\n", " "))


# ------------------------------------------------------------------ python blocks run
PY_BLOCKS = [(p, i, b) for p in DOC_FILES for i, b in enumerate(fences(TEXTS[p], "python"))]
RUNNABLE = [pytest.param(b, id=f"{_name(p)}-{i}") for p, i, b in PY_BLOCKS
            if b != MONITOR_EXAMPLE and not NOT_RUN.match(b)]


def test_docs_have_python_examples():
    assert len(RUNNABLE) >= 3
    assert sum(b == MONITOR_EXAMPLE for _, _, b in PY_BLOCKS) == 1, "the monitor example is quoted verbatim once"


@pytest.fixture
def restore_methods():
    """A block may register a method (the plug-in example); the registry is restored after it."""
    from empirical.methods import METHODS, method_names

    method_names()
    saved = dict(METHODS)
    yield
    METHODS.clear()
    METHODS.update(saved)


@pytest.mark.parametrize("block", RUNNABLE)
def test_python_block_runs(block, restore_methods, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # whatever a block writes lands here
    exec(compile(block, "<doc block>", "exec", dont_inherit=True), {"__name__": "__doc_example__"})


def test_not_run_blocks_are_rare_and_say_why():
    marked = [(p, i, b) for p, i, b in PY_BLOCKS if NOT_RUN.match(b)]
    assert len(marked) <= MAX_NOT_RUN, [f"{_name(p)} block {i}" for p, i, _ in marked]
    for p, i, b in marked:
        reason = NOT_RUN.match(b).group(1).strip()
        assert reason in NOT_RUN_REASONS, f"{_name(p)} block {i}: '# not run: {reason}' is not an accepted reason"
        compile(b, f"{_name(p)} block {i}", "exec", dont_inherit=True)   # still valid Python
    for p, i, b in PY_BLOCKS:   # the marker is only honoured on the first line
        assert "# not run:" not in b.partition("\n")[2], f"{_name(p)} block {i}: '# not run:' below the first line"


# ------------------------------------------------------------------ commands
EMPIRICAL_CMD = re.compile(r"python -m empirical[ \t]+([A-Za-z][\w-]*)")
WITNESS_CMD = re.compile(r"python -m witness_theory[ \t]+([A-Za-z][\w-]*)")


def _placeholder(word: str) -> bool:
    return word.isupper()                # COMMAND, DIR, KEY: a placeholder, not a name


def empirical_commands() -> set[str]:
    from empirical.cli import COMMANDS
    return set(COMMANDS)


def witness_commands() -> set[str]:
    from witness_theory.__main__ import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["--help"])
    choices = re.search(r"\{([\w,-]+)\}", out.getvalue())
    assert choices, out.getvalue()
    return set(choices.group(1).split(","))


def test_named_subcommands_exist():
    real, real_wt = empirical_commands(), witness_commands()
    assert real_wt == {"ledger", "check"}
    bad = []
    for p in DOC_FILES:
        bad += [f"{_name(p)}: python -m empirical {c}" for c in EMPIRICAL_CMD.findall(TEXTS[p])
                if not _placeholder(c) and c not in real]
        bad += [f"{_name(p)}: python -m witness_theory {c}" for c in WITNESS_CMD.findall(TEXTS[p])
                if not _placeholder(c) and c not in real_wt]
    assert not bad, bad


def command_lines(text: str) -> list[str]:
    """``python -m empirical ...`` lines of bash blocks (continuations joined, comments dropped)
    and inline spans without placeholders (``...``, ``[``, ``|``, ``<``)."""
    lines = []
    for body in fences(text, "bash"):
        for line in body.replace("\\\n", " ").splitlines():
            if line.strip().startswith("python -m empirical"):
                lines.append(" ".join(shlex.split(line, comments=True)))
    for span in inline_spans(text):
        if (span.startswith("python -m empirical ") and not any(c in span for c in ("...", "[", "|", "<"))
                and not _placeholder(span.split()[3])):
            lines.append(span)
    return lines


DOC_COMMANDS = [pytest.param(line, id=f"{_name(p)}: {line[20:60]}") for p in DOC_FILES for line in command_lines(TEXTS[p])]


def test_docs_quote_command_lines():
    assert len(DOC_COMMANDS) >= 30


@pytest.mark.parametrize("line", DOC_COMMANDS)
def test_command_line_parses(line):
    """The real parser accepts every quoted command line (options, choices, --seeds syntax)."""
    from empirical.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = build_parser().parse_args(shlex.split(line)[3:])
    except SystemExit:
        pytest.fail(f"{line!r} does not parse: {err.getvalue().strip()}")
    assert args.command


def test_every_command_and_option_is_documented():
    """README's table names every subcommand; docs/commands.md every subcommand and option."""
    from empirical.cli import build_parser

    readme, reference = TEXTS[README], TEXTS[ROOT / "docs" / "commands.md"]
    missing = [f"README: python -m empirical {c}" for c in empirical_commands()
               if f"`python -m empirical {c}" not in readme]
    missing += [f"README: python -m witness_theory {c}" for c in witness_commands()
                if f"python -m witness_theory {c}" not in readme]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        if f"**`{name}" not in reference:
            missing.append(f"commands.md: no entry **`{name}`**")
        for action in parser._actions:
            missing += [f"commands.md: {name} {o}" for o in action.option_strings
                        if o.startswith("--") and o != "--help" and o not in reference]
    for option in ("--key", "--weights", "--codes", "--groups", "--witness-scale", "--latent-dim", "--json"):
        if option not in reference:
            missing.append(f"commands.md: witness_theory check {option}")
    assert not missing, missing


# ------------------------------------------------------------------ --set keys
TREE_SECTIONS = ("data", "teacher", "witness", "model", "method", "train")


def experiment_sections() -> dict[str, type]:
    """Each experiment command's own settings (``--set <command>.KEY=VALUE``), checked against the
    sections the CLI advertises in each command's --set help."""
    from empirical.cli import build_parser
    from empirical.experiments.claims import ClaimsConfig
    from empirical.experiments.compare import CompareConfig
    from empirical.experiments.escape import EscapeConfig
    from empirical.experiments.frontier import FrontierConfig
    from empirical.experiments.linear_threshold import LinearConfig
    from empirical.experiments.rescue import RescueConfig

    known = {"claims": ClaimsConfig, "compare": CompareConfig, "escape": EscapeConfig, "frontier": FrontierConfig,
             "linear": LinearConfig, "rescue": RescueConfig}
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    advertised = set()
    for parser in sub.choices.values():
        for action in parser._actions:
            if action.dest == "overrides" and (m := re.search(r"the (\w+) settings as", action.help or "")):
                advertised.add(m.group(1))
    assert advertised == set(known) | {"grid"}, "a command's own settings changed: update this map"
    return known


def accepted_keys() -> set[str]:
    from empirical.configure import resolve, valid_keys
    from empirical.methods import METHODS, method_names

    builtin = [m for m in method_names() if METHODS[m].__module__.startswith("empirical.")]
    keys = {k for m in builtin for k in valid_keys(resolve("digits", m))}
    for section, cls in experiment_sections().items():
        keys |= {f"{section}.{f.name}" for f in dataclasses.fields(cls)}
        if section in ("claims", "compare"):      # sweep --grid claims|compare takes grid.KEY for them
            keys |= {f"grid.{f.name}" for f in dataclasses.fields(cls)}
    return keys


SET_ARG = re.compile(r"--set((?:\s+[\w.-]+=[^\s`]*)+)")
KEY_SPAN = re.compile(r"^([a-z]+)\.(\w+)\s*(=.*)?$")
FILE_SUFFIXES = {"npz", "npy", "json", "jsonl", "md", "csv", "py", "pt", "png", "txt"}   # `teacher.npz` is a file
DELIBERATE = "foo"       # a key or value named foo is a deliberate error in an example of an error message


def quoted_keys(text: str) -> set[str]:
    keys = {item.split("=", 1)[0] for group in SET_ARG.findall(text) for item in group.split()}
    sections = (*TREE_SECTIONS, "claims", "compare", "escape", "frontier", "linear", "rescue", "grid")
    for span in inline_spans(text):
        m = KEY_SPAN.match(span.strip())
        if m and m.group(1) in sections and (m.group(3) or m.group(2) not in FILE_SUFFIXES):
            keys.add(f"{m.group(1)}.{m.group(2)}")
    return keys


def test_quoted_set_keys_are_accepted():
    valid = accepted_keys()
    sections = {k.partition(".")[0] for k in valid}
    bad = []
    for p in DOC_FILES:
        for key in quoted_keys(TEXTS[p]):
            key = key.replace("-", "_")
            section, _, name = key.partition(".")
            if name == DELIBERATE:
                continue
            if _placeholder(name or section):            # KEY=VALUE, method.KEY=...: the section must exist
                ok = not name or section in sections
            else:
                ok = key in valid
            if not ok:
                bad.append(f"{_name(p)}: --set {key}")
    assert not bad, bad


def test_commands_md_lists_every_experiment_key():
    """`config --keys` lists the tree only; the experiments' own keys are listed in commands.md."""
    reference = TEXTS[ROOT / "docs" / "commands.md"]
    missing = [f"{s}.{f.name}" for s, cls in experiment_sections().items() for f in dataclasses.fields(cls)
               if f"`{s}.{f.name}`" not in reference]
    assert not missing, missing


# ------------------------------------------------------------------ ledger ids
def ledger_ids() -> list[str]:
    from witness_theory import LEDGER
    return [t.id for t in LEDGER]


def expand_ids(text: str) -> list[str]:
    """'T1-T13 and T2H' -> T1..T13, T2H."""
    ids = []
    for part in re.split(r",|\band\b", text):
        part = part.strip()
        if m := re.fullmatch(r"T(\d+)\s*-\s*T(\d+)", part):
            ids += [f"T{i}" for i in range(int(m.group(1)), int(m.group(2)) + 1)]
        elif re.fullmatch(r"T\d+H?", part):
            ids.append(part)
        else:
            raise AssertionError(f"cannot read ledger ids from {part!r}")
    return ids


def test_readme_lists_the_ledger():
    found = re.findall(r"ledger \(\*\*(.+?)\*\*\)", TEXTS[README])
    assert len(found) == 1, "README.md states the ledger once as: ledger (**T1-T13 and T2H**)"
    ids = expand_ids(found[0])
    assert len(ids) == len(set(ids)) and set(ids) == set(ledger_ids()), (ids, ledger_ids())


def test_theory_ledger_table_and_sections_are_the_ledger():
    theory = TEXTS[ROOT / "docs" / "theory.md"]
    table = theory.split("## The ledger\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| \[`(T\w+)`\]", table, flags=re.M) == ledger_ids()
    sections = re.findall(r"^## (T\d+H?)\b", theory, flags=re.M)
    assert sorted(sections) == sorted(ledger_ids()), "one section per ledger id"


def test_theorem_ids_mentioned_exist():
    real = set(ledger_ids())
    bad = [f"{_name(p)}: {t}" for p in DOC_FILES for t in re.findall(r"\bT\d+H?\b", TEXTS[p]) if t not in real]
    assert not bad, bad


# ------------------------------------------------------------------ paths and links
PREFIXES = ("empirical/", "witness_theory/", "results/", "scripts/", "docs/", "bench/", "tests/", "proofs/", ".ci/")
GENERATED = ("results/tmp/",)          # written by --quick runs (empirical/commands/common.py), not in the repository
_ANY_PREFIX = "|".join(re.escape(p) for p in PREFIXES)
PATH_IN_CODE = re.compile(rf"(?<![\w./-])((?:{_ANY_PREFIX})[\w./*-]*\.\w+)")


def _exists(rel: str, base: Path = ROOT) -> bool:
    rel = rel.rstrip(".,;:)")
    if "<" in rel:                     # results/<data>/...: the part before the placeholder
        rel = rel[:rel.index("<")].rsplit("/", 1)[0] or "."
    if "*" in rel:
        return bool(glob.glob(str(base / rel)))
    return (base / rel).exists()


def cited_paths(text: str) -> set[str]:
    paths = set()
    for span in inline_spans(text):
        first = span.split()[0] if span.split() else ""
        if first.startswith(PREFIXES):
            paths.add(first)
    for body in fences(text):
        paths |= set(PATH_IN_CODE.findall(body))
    return {p for p in paths if not p.startswith(GENERATED)}


def test_cited_paths_exist():
    missing = [f"{_name(p)}: {path}" for p in DOC_FILES for path in sorted(cited_paths(TEXTS[p])) if not _exists(path)]
    assert not missing, missing


def slugs(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    out, seen = set(), {}
    for heading in re.findall(r"^#+ (.+)$", prose(markdown), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_links_resolve():
    bad = []
    for p in DOC_FILES:
        for target in LINK.findall(prose(TEXTS[p])):
            if re.match(r"[a-z]+:", target):
                continue                                  # http(s)://, mailto:
            file, _, anchor = target.partition("#")
            dest = (p.parent / file).resolve() if file else p
            if not dest.exists():
                bad.append(f"{_name(p)}: {target} (no file)")
            elif anchor and dest.suffix == ".md" and anchor not in slugs(dest.read_text()):
                bad.append(f"{_name(p)}: {target} (no heading #{anchor})")
    assert not bad, bad


def test_empirical_docstring_names_real_modules():
    import empirical

    names = set(re.findall(r"``(empirical(?:\.\w+)+)``", empirical.__doc__ or ""))
    assert len(names) >= 8
    for name in sorted(names):
        importlib.import_module(name)


# ------------------------------------------------------------------ README size
def test_readme_is_short():
    lines = TEXTS[README].splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines"


def test_readme_ten_lines_are_ten_lines():
    section = TEXTS[README].split("\n## Ten lines", 1)[1].split("\n## ", 1)[0]
    blocks = fences(section, "python")
    assert len(blocks) == 1
    assert len([line for line in blocks[0].splitlines() if line.strip()]) == 10
