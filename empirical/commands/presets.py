"""``python -m empirical presets``: the named settings shipped with the package, and where each
number comes from. A preset is a TOML file in ``empirical/presets/`` (``--preset NAME`` on any
command that takes ``--set``)."""
from __future__ import annotations

from empirical.configure import preset_info, preset_names

HELP = "list the named presets (--preset NAME) with the source of each number"


def add_arguments(p) -> None:
    p.add_argument("name", nargs="?", default=None, help="show one preset only")


def run(args) -> int:
    for name in [args.name] if args.name else preset_names():
        info = preset_info(name)
        print(f"{name}: {info['summary']}")
        for item in info["overrides"]:
            key = item.split("=", 1)[0]
            print(f"    --set {item:<40} {info['sources'].get(key, '')}")
        if not info["overrides"]:
            print("    (no overrides: the defaults of empirical/config.py and the data set's registry entry)")
        print()
    return 0
