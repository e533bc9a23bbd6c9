"""``python -m empirical methods``: the registered training methods, with description and source."""
from __future__ import annotations

import dataclasses

HELP = "list the training methods (plug-ins): name, one-line description, source, settings"


def add_arguments(p) -> None:
    p.add_argument("--verbose", action="store_true", help="also list each method's settings and defaults")


def run(args) -> int:
    from empirical.methods import METHODS, method_names

    for name in method_names():
        cls = METHODS[name]
        print(f"{name:18s} {cls.summary}\n{'':18s} source: {cls.source}")
        if args.verbose:
            for f in dataclasses.fields(cls.Config):
                print(f"{'':18s}   method.{f.name} = {f.default!r}")
    return 0
