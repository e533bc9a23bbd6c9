"""``python -m empirical config``: print the resolved config tree of a data set and a method."""
from __future__ import annotations

from pathlib import Path

from empirical.commands.common import add_common_arguments, experiment_config
from empirical.configure import dumps, dumps_toml, valid_keys
from empirical.io import atomic_write_text

HELP = "print the resolved config tree (data, teacher, witness, model, method, train) as JSON, or as TOML (--dump)"


def add_arguments(p) -> None:
    add_common_arguments(p, method=True, runs=False)
    p.add_argument("--keys", action="store_true", help="list every key --set accepts instead")
    p.add_argument("--dump", nargs="?", const="-", default=None, metavar="FILE",
                   help="write the resolved tree as a TOML config file (to FILE, or stdout) that --config loads "
                        "back to the same tree")


def run(args) -> int:
    config, _ = experiment_config(args)
    if args.keys:
        print("\n".join(valid_keys(config)))
    elif args.dump == "-":
        print(dumps_toml(config), end="")
    elif args.dump:
        atomic_write_text(Path(args.dump), dumps_toml(config))
        print(f"wrote {args.dump}")
    else:
        print(dumps(config))
    return 0
