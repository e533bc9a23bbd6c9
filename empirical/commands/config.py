"""``python -m empirical config``: print the resolved config tree of a data set and a method."""
from __future__ import annotations

from empirical.commands.common import add_common_arguments, experiment_config

HELP = "print the resolved config tree (data, teacher, witness, model, method, train) as JSON"


def add_arguments(p) -> None:
    add_common_arguments(p, method=True, runs=False)
    p.add_argument("--keys", action="store_true", help="list every key --set accepts instead")


def run(args) -> int:
    from empirical.configure import dumps, valid_keys

    config, _ = experiment_config(args)
    print("\n".join(valid_keys(config)) if args.keys else dumps(config))
    return 0
