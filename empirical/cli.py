"""Command-line entry point: ``python -m empirical <command> ...``.

Each command lives in ``empirical/commands/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Commands are imported lazily so that
``--help`` stays fast and a broken optional dependency only affects its own command.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> module; the order is the order shown in --help.
COMMANDS = {
    "teacher": "empirical.commands.teacher",
    "certify": "empirical.commands.certify",
    "train": "empirical.commands.train",
    "claims": "empirical.commands.claims",
    "compare": "empirical.commands.compare",
    "config": "empirical.commands.config",
    "presets": "empirical.commands.presets",
    "linear": "empirical.commands.linear",
    "methods": "empirical.commands.methods",
    "escape": "empirical.commands.escape",
    "rescue": "empirical.commands.rescue",
    "frontier": "empirical.commands.frontier",
    "sweep": "empirical.commands.sweep",
    "sweep-report": "empirical.commands.sweep_report",
}


def _available():
    for name, modname in COMMANDS.items():
        try:
            yield name, importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:  # a real missing dependency inside the command: surface it
                raise


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error (unknown option, bad --seeds, missing value) as ONE
    line on stderr with exit status 2, as every other command-line error here; the usage text
    stays one ``-h`` away. Subparsers inherit the class (add_subparsers uses type(parent))."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} -h)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m empirical",
        description="Witness-theory experiments on real data sets.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in _available():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"    # one line, not the source line of the code that warned


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _warning_line
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from empirical.io import code_commit
    code_commit()   # the commit the results will record: taken now, before a long run (empirical.io.code_commit)
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        # Bad input and missing files are user errors: one clear line, no traceback.
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        # a path the OS refuses (permission denied, a directory where a file goes, a full disk):
        # the message names the file; still one line and exit 2, never a traceback
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) not in str(exc) else ""
        print(f"error: {where}{_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0] if len(lines) == 1 else lines[0] + " (" + "; ".join(x.strip() for x in lines[1:4]) + ")"


if __name__ == "__main__":
    sys.exit(main())
