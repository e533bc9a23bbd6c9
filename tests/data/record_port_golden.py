"""Record short digits runs of the four methods with the PRE-REFACTOR code (golden for the port test).

Run once at commit 1a4b26b (before empirical/config.py existed: it imports the old
empirical.configs / empirical.train API, so it does not run on later commits); kept as the record
of how tests/data/port_golden.json was made: `python tests/data/record_port_golden.py OUT.json`.
"""
import json
import platform
import sys
import tempfile

import numpy as np
import torch

from empirical.configs import config_for
from empirical.training.loop import prepare, train

out = {}
with tempfile.TemporaryDirectory() as d:
    base = config_for("digits", epochs=3, prefit_epochs=1, seed=7, device="cpu", teacher_cache=d + "/t")
    exp = prepare(base)
    for m, kl in [("vanilla", 1.0), ("rst", 1.0), ("rst-prefit", 1.0), ("rst-alpha-prefit", 8.0)]:
        import dataclasses
        c = dataclasses.replace(base, method=m, kl_weight=kl, out_dir=f"{d}/{m}")
        r = train(c, experiment=exp, progress=False, resume=False)
        keep = ("I_T", "L_TS", "G_T", "rec", "kl", "energy", "active_units", "mi_minibatch", "mi_full")
        out[f"{m}-kl{kl:g}"] = {
            "final": {k: float(r.final[k]) for k in keep},
            "history": [{k: float(v) for k, v in h.items() if k.startswith("train_") or k in ("alpha_eff", "running_margin")}
                        for h in r.history],
        }
meta = {"torch": torch.__version__, "numpy": np.__version__, "machine": platform.machine(), "python": platform.python_version(),
        "settings": "digits, epochs=3, prefit_epochs=1, seed=7, cpu, cpu_threads=1; rst-alpha-prefit at kl_weight 8"}
json.dump({"meta": meta, "runs": out}, open(sys.argv[1], "w"), indent=1)
print(json.dumps(out, indent=0)[:1500])
