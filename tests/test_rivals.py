"""The rival methods: LR-VAE's loss on a hand-computed batch, HCT's pieces (mixture KL by Monte
Carlo against the closed form, the selection rule on a case with a known answer), and compare."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import witness_theory as wt
from empirical.cli import main
from empirical.configure import replace, resolve
from empirical.methods import Batch, Run, get_method
from empirical.methods.rivals import GMMPrior, candidate_priors, kl_to_mixture_mc, mixture_log_prob, select_better_half
from empirical.models.vae import VAE


def _run(model, kl_weight=1.0, n_batches=4):
    from empirical.models.witness_head import TorchWitness
    head = TorchWitness(wt.Witness(3, d=4, scale=4.0))
    return Run(head=head, kl_weight=kl_weight, teacher_information_train=1.0, optimizer=None, n_batches=n_batches,
               sample_batch=None, evaluate=None, device=torch.device("cpu"), model=model)


def _batch(n=6, D=5):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, D, generator=g)
    T = torch.softmax(torch.randn(n, 3, generator=g), 1)
    return Batch(x, T, torch.zeros(n, 4), torch.arange(n))


@pytest.mark.parametrize("gradient", ["both", "encoder", "decoder"])
def test_lr_vae_loss_equals_a_hand_computation(gradient):
    torch.manual_seed(0)
    model = VAE((5,), 4, hidden=(7,))
    cls = get_method("lr-vae")
    method = cls(cls.Config(alpha_T=0.8, warm_up=2, prior_samples=3, gradient=gradient), kl_weight=0.5)
    batch, run = _batch(), _run(model, n_batches=4)
    method.steps = 2                      # the loss call makes it 3: alpha = 0.8 * 3 / (2 * 4)
    torch.manual_seed(1)
    t = method.loss(model, batch, 0, run)
    # by hand, replaying the same random draws: the forward's eps, then the 3 prior samples
    torch.manual_seed(1)
    mu, lv = model.encode(batch.x)
    eps = torch.randn(mu.shape)
    logits = model.decode(mu + torch.exp(0.5 * lv) * eps)
    rec = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.x, reduction="none").sum(1).mean()
    kl = (0.5 * (mu ** 2 + lv.exp() - 1 - lv)).sum(1).mean()
    z = torch.randn(3, 4)
    mu_hat = model.encode(torch.sigmoid(model.decode(z)))[0]
    lr = ((mu_hat - z) ** 2).sum(1).mean()
    want = rec + 0.5 * kl + 0.8 * 3 / 8 * lr
    assert torch.allclose(t["total"], want, rtol=1e-6, atol=1e-6)
    assert torch.allclose(t["latent_rec"], lr, rtol=1e-6)
    # where the latent term's gradient flows
    model.zero_grad()
    t["latent_rec"].backward()
    enc = any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    dec = any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert (enc, dec) == {"both": (True, True), "encoder": (True, False), "decoder": (False, True)}[gradient]


def test_mixture_kl_monte_carlo_matches_the_closed_form_for_one_component():
    """With K = 1 the mixture is N(m, v I) and KL(N(mu, s^2) || N(m, v)) has a closed form; the Monte
    Carlo estimate with 20,000 draws per row is within 5 standard errors of it (the estimator's sd
    is measured from the same draws)."""
    g = torch.Generator().manual_seed(3)
    mu, lv = torch.randn(4, 3, generator=g, dtype=torch.float64), 0.3 * torch.randn(4, 3, generator=g, dtype=torch.float64)
    m, log_v = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64), 0.4
    prior = GMMPrior(m, log_v, torch.zeros(1, dtype=torch.float64), "one")
    v = math.exp(log_v)
    exact = 0.5 * ((lv.exp() + (mu - m) ** 2) / v - 1 - lv + log_v).sum(1)
    est = kl_to_mixture_mc(mu, lv, prior, 20_000, torch.Generator().manual_seed(5))
    # per-row sd of the single-draw estimator, from a separate batch of draws
    eps = torch.randn(20_000, *mu.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    z = mu + torch.exp(0.5 * lv) * eps
    single = -0.5 * (math.log(2 * math.pi) + lv + eps ** 2).sum(-1) - mixture_log_prob(z, prior)
    se = single.std(0) / math.sqrt(20_000)
    assert torch.all((est - exact).abs() <= 5 * se), (est, exact, se)


def test_selection_keeps_the_true_prior_on_a_case_with_a_known_answer():
    """Codes drawn from candidate j with tight posteriors: the held-out ELBO (the reconstruction term is
    the same for every prior, so it is -KL to the prior) ranks candidate j first, and successive
    halving ends with j alone."""
    priors = candidate_priors(4, n_components=(2, 4, 8), seeds_per_K=2, radius=3.0, log_var=-2.0)
    j = 3
    g = torch.Generator().manual_seed(0)
    comp = torch.randint(0, priors[j].means.shape[0], (400,), generator=g)
    mu = priors[j].means[comp] + math.exp(-1.0) * torch.randn(400, 4, generator=g)
    lv = torch.full_like(mu, -6.0)
    alive = list(range(len(priors)))
    while len(alive) > 1:
        scores = {i: -float(kl_to_mixture_mc(mu, lv, priors[i], 8, torch.Generator().manual_seed(1)).mean())
                  for i in alive}
        assert max(scores, key=scores.get) == j
        alive = select_better_half(scores)
    assert alive == [j]
    assert select_better_half({0: 1.0, 1: 3.0, 2: 2.0}) == [1, 2]     # ceil(3/2) = 2 kept, best first
    assert select_better_half({5: 0.0, 7: 0.0}) == [5]                # a tie keeps the lower index


def test_hct_runs_its_rounds_and_ends_on_one_prior(tmp_path):
    c = resolve("digits", "hct", overrides={"train.epochs": 1, "data.limit": 200, "model.hidden": (16,),
                                              "method.n_components": (2, 4), "method.seeds_per_K": 2,
                                              "method.heldout_rows": 64, "train.device": "cpu",
                                              "teacher.cache": str(tmp_path / "t")})
    from empirical.training.loop import train
    r = train(replace(c, out_dir=str(tmp_path / "run")), progress=False)
    assert [h["phase"] for h in r.history] == ["consensus", "consensus", "elbo"]   # 4 candidates: 2 rounds
    assert [h["hct_alive"] for h in r.history] == [2, 1, 1]
    assert r.history[-1]["hct_prior"] in {"K2-s0", "K2-s1", "K4-s0", "K4-s1"}


def test_compare_quick_writes_the_table_and_c4_verdict(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "NOTES.md").write_text("hand-written discussion\n")
    rc = main(["compare", "--quick", "--seeds", "1", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"),
               "--set", "compare.entries=vanilla@1,free-bits,rst", "data.limit=300", "model.hidden=32",
               f"teacher.cache={tmp_path / 't'}"])
    assert rc == 0
    rows = json.loads((tmp_path / "out" / "compare_table.json").read_text())
    assert [r["display"] for r in rows] == ["vanilla@1", "free-bits", "rst"]
    assert (tmp_path / "out" / "margin_by_method.png").stat().st_size > 0
    assert "hct" not in (tmp_path / "out" / "compare_table.md").read_text()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["claims"] == {}          # custom entries: no named claim is evaluated
    # the README names the commit and the machine it was made at, as summary.json records them (issue 23)
    rec, readme = summary["provenance"], (tmp_path / "out" / "README.md").read_text()
    assert rec["commit"] is None or f"at commit {rec['commit'][:12]}" in readme
    assert f"on {rec['machine']['cpu']} ({rec['machine']['cores']} logical cores" in readme
    # every trial names the commit it trained at; the README says so only where that is not this clean commit
    runs = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    assert {r["commit"] for r in runs} == {rec["commit"]} and {r["commit_dirty"] for r in runs} == {rec["dirty"]}
    assert ("The trials were trained at" in readme) == (rec["commit"] is None or rec["dirty"])
    # a hand-written NOTES.md is kept and linked, never overwritten
    assert (tmp_path / "out" / "NOTES.md").read_text() == "hand-written discussion\n" and "(NOTES.md)" in readme


def test_compare_c5_readme_names_the_preset_and_sets_the_grid_beside_the_published_numbers(tmp_path):
    out = tmp_path / "out"
    rc = main(["compare", "--quick", "--seeds", "1", "--preset", "lidvae-fmnist", "--dataset", "digits",
               "--out", str(out), "--runs", str(tmp_path / "runs"),
               "--set", "compare.grid=c5", "data.limit=200", "model.hidden=16", "model.latent_dim=8", "train.epochs=1",
               f"teacher.cache={tmp_path / 't'}"])
    assert rc == 0
    readme = (out / "README.md").read_text()
    assert "Setting: the preset `lidvae-fmnist`" in readme and "### C5 beside the published numbers" in readme
    section = readme.split("### C5 beside the published numbers")[1].split("- **C5**")[0]
    # one row per grid entry, in the grid's order
    from empirical.experiments.compare import C5_ENTRIES
    assert [line.split(" | ")[0].lstrip("| ") for line in section.splitlines() if "@" in line and line.startswith("| ")] \
        == list(C5_ENTRIES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["claims"]["C5"]["beside_published"] in readme


def test_trials_line_names_the_commits_that_are_not_this_one():
    from empirical.report.tables import trials_line
    here = {"commit": "a" * 40, "dirty": False}
    same = [{"commit": "a" * 40, "commit_dirty": False}] * 3
    assert trials_line(same, here) == ""
    line = trials_line([*same, {"commit": "b" * 40, "commit_dirty": True}, {}], here)
    assert "commit aaaaaaaaaaaa (3 of 5)" in line
    assert "commit bbbbbbbbbbbb with uncommitted changes to the code (1 of 5)" in line
    assert "do not name (trained before records named it) (1 of 5)" in line
    # this checkout dirty: even trials at the same commit are named
    assert "(3 of 3)" in trials_line(same, {"commit": "a" * 40, "dirty": True})


def test_c5_table_sets_each_grid_point_beside_the_published_number():
    from empirical.experiments.compare import C5_ENTRIES, c5_published_range, c5_published_table
    d = 64

    def recs(group, method, kl, aus, **extra):
        # per-unit KL: `a` units at 0.5 nats, one at exactly the threshold (not counted), the rest at 0
        return [dict(group=group, method=method, kl_weight=kl, active_units=a, kl=10.0, mi_full=2.0, lcb_fitted=1.5,
                     kl_per_dim=[0.5] * a + [0.01] + [0.0] * (d - a - 1), **extra) for a in aus]
    records = (recs("lr-vae@0.1:alpha_T=1", "lr-vae", 0.1, [60, 61], lcb_post_fitted=1.0)       # 0.945: inside
               + recs("lr-vae@1:alpha_T=0.4", "lr-vae", 1.0, [13, 13], lcb_post_fitted=0.5)    # 0.203: below
               + recs("lr-vae@0.2:alpha_T=1", "lr-vae", 0.2, [64, 64], lcb_post_fitted=0.5)    # 1.0: above
               + recs("vanilla@1", "vanilla", 1.0, [9, 9])                                    # 0.141, no posterior LCB
               + recs("vanilla@0.1", "vanilla", 0.1, [29, 29], lcb_post_fitted=0.9))
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in
            c5_published_table(records, d).splitlines() if line.startswith("| ") and "@" in line}
    assert rows["lr-vae@0.1:alpha_T=1"][3:5] == ["0.93-0.96", "inside"]
    assert rows["lr-vae@1:alpha_T=0.4"][2].startswith("**0.20** (0.20, 0.20)")
    assert rows["lr-vae@1:alpha_T=0.4"][4] == f"{13 / d - 0.93:+.2f}" == "-0.73"
    assert rows["lr-vae@0.2:alpha_T=1"][3:5] == ["0.93-0.96 (*)", "+0.04"]   # the named point; above the upper end
    assert rows["vanilla@1"][3:5] == ["about 0.13", "+0.01"] and rows["vanilla@1"][-1].startswith("n/a")
    assert rows["vanilla@0.1"][3:5] == ["not published", ""]
    assert rows["lr-vae@0.1:alpha_T=1"][5] == f"{60.5 / d:.2f}" and rows["vanilla@1"][5] == f"{9 / d:.2f}"
    no_unit_kl = c5_published_table([{k: v for k, v in r.items() if k != "kl_per_dim"} for r in records], d)
    assert " | n/a | 10.000 | " in no_unit_kl
    # every grid point of C5 has a published number but the standard VAE away from KL weight 1
    unpublished = [e for e in C5_ENTRIES if c5_published_range(e.partition("@")[0],
                                                               float(e.partition("@")[2].partition(":")[0])) is None]
    assert unpublished == ["vanilla@0.1", "vanilla@0.2"]


def test_c4_verdict_reports_a_certified_non_witness_method():
    from empirical.experiments.compare import evaluate_c4
    recs = [dict(group="vanilla@1", method="vanilla", G_T=-1.0, certified=False),
            dict(group="free-bits", method="free-bits", G_T=0.3, certified=True),
            dict(group="rst", method="rst", G_T=2.0, certified=True)]
    c4 = evaluate_c4(recs)
    assert c4["holds"] is False and c4["evidence"]["free-bits"]["certified"] == 1 and "rst" not in c4["evidence"]
    assert np.isclose(c4["evidence"]["vanilla@1"]["G_T"][0], -1.0)
