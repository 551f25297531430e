"""Terminal tables that fit at 100 columns, and every example writes a plot (issue 28).

The tables of every example are rendered through the real ``show`` of its kind at width 100:
single and multi examples from their expanded cells (real variant labels and sizes, made-up
metric values, no fitting), fairness from a small real run of the toy example. A number cut to
``…`` fails the test.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from acakit.analyses.tables import alpha_strings, short_variants
from acakit.engine import experiment_module
from acakit.engine.config import read_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.yaml"))


def _kind(raw: dict) -> str:
    return raw.get("experiment", "collective")


def _render(result: object, width: int = 100) -> str:
    out = io.StringIO()
    result.show(Console(file=out, width=width, markup=False))  # type: ignore[attr-defined]
    return out.getvalue()


def _assert_no_cut_number(text: str, where: str) -> None:
    cut = [line for line in text.splitlines() if "…" in line]
    assert not cut, f"{where}: cut cells at width 100:\n" + "\n".join(cut)
    assert max(map(len, text.splitlines())) <= 100, where


def test_alpha_has_one_rule_for_its_digits():
    assert alpha_strings([0.019, 0.0411, 0.06]) == ["0.0190", "0.0411", "0.0600"]
    col = alpha_strings([0.0, 0.0005, 0.001, 0.005])
    assert len({len(c.split(".")[1]) for c in col}) == 1


def test_noise_grid_labels_are_short_and_name_what_varies():
    labels = [c.variant for c in _cells(EXAMPLES / "noise_bbc.yaml")]
    short = sorted(set(short_variants(labels)))
    assert "alpha=0.02 q=0" in short and "alpha=0.04 q=0.8" in short
    assert all(len(s) <= 20 and "{" not in s for s in short)


def _cells(path: Path) -> list:
    raw = read_config(path)
    mod = experiment_module(_kind(raw))
    return mod.expand(mod.parse_config(raw))


def _single_result(path: Path) -> object:
    from acakit.analyses.single import SweepResult

    cells = _cells(path)
    rng = np.random.default_rng(0)
    rows = []
    for c in cells:
        a = c.collective.alpha if c.collective.alpha is not None else 0.0123
        rows.append({"variant": c.variant, "alpha": a, "n_members": 12345.0, "seeds": 5,
                     "success": rng.uniform(), "success_lo": 0.1234, "success_hi": 0.9876,
                     "accuracy": 0.8765, "interval": "t over seeds"})
    summary = pd.DataFrame(rows).drop_duplicates(["variant", "alpha"])
    results = summary.assign(seed=0)
    return SweepResult(results, summary, [], title=read_config(path).get("name", path.stem))


def _multi_result(path: Path) -> object:
    from acakit.analyses.multi import MultiRunResult

    raw = read_config(path)
    mod = experiment_module("multi")
    cfg = mod.parse_config(raw)
    rng = np.random.default_rng(0)
    rows = []
    for c in mod.expand(cfg):
        for col in c.collectives:
            rows.append({"variant": c.variant, "sweep_alpha": c.sweep_alpha, "name": col.name,
                         "alpha": col.alpha if col.alpha is not None else 0.0123, "seed": c.seed,
                         "success_all": rng.uniform(), "success_all_n": 500, "success": 0.5,
                         "bound_worst": -0.1234, "bound_aggregate": 0.1234, "bound_full": 0.5678,
                         "finite_full": -0.0901, "efficacy_loss": 0.4321, "accuracy": 0.9876,
                         "label_entropy": 1.0, "size_entropy": 1.0, "mean_jaccard": 0.0,
                         "mean_overlap": 1.0})
    return MultiRunResult(pd.DataFrame(rows), cfg)


@pytest.mark.parametrize("path", [p for p in CONFIGS if _kind(read_config(p)) != "fairness"],
                         ids=lambda p: p.stem)
def test_every_example_table_fits_in_100_columns(path):
    raw = read_config(path)
    result = _multi_result(path) if _kind(raw) == "multi" else _single_result(path)
    text = _render(result)
    _assert_no_cut_number(text, path.name)
    # every number of the table is printed whole
    assert re.search(r"\b0\.\d{3}\b", text), text


def test_fairness_tables_fit_in_100_columns(tmp_path):
    """A small real run of the toy example with every relabeling method and four baselines."""
    from acakit.analyses.fairness import run_config

    raw = read_config(EXAMPLES / "fairness_toy.yaml")
    raw["seeds"] = [0, 1]
    raw["relabel"]["budgets"] = [0.0, 0.2]
    raw["dataset"]["params"]["n_samples"] = 2000
    res = run_config(raw, out_dir=str(tmp_path), progress=False)
    text = _render(res)
    _assert_no_cut_number(text, "fairness_toy")
    assert "firm: correlation_remover" in text and "S min" in text


def test_multi_grid_without_a_swept_collective_plots_success_vs_noise_level(tmp_path):
    """noise_bbc's picture (success vs noise level q, one line per size) on small data."""
    from acakit.analyses.multi import run_config

    raw = {"name": "noise", "dataset": {"name": "product_ratings",
                                        "params": {"n_samples": 3000, "n_features": 4}},
           "firm": {"name": "empirical_bayes"},
           "collectives": [{"name": "c", "signal": {"type": "set_columns",
                                                     "values": {"f0": 0, "f1": 0}},
                            "target": "rating_1", "alpha": 0.02}],
           "sweep": {"seed": [0], "grid": {"c.alpha": [0.02, 0.04], "c.noise": [
               {"p_drop": 0.0}, {"p_drop": 0.2, "p_label": 0.2}]}},
           "bounds": {"compute": False}}
    res = run_config(raw, out_dir=str(tmp_path), progress=False)
    assert tmp_path / "success.png" in res.files
    assert (tmp_path / "success.png").stat().st_size > 10_000
    text = _render(res)
    _assert_no_cut_number(text, "noise grid")
    assert "alpha=0.04 q=0.4" in text


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_example_writes_a_plot(path):
    """Read from the config: plots are on, and the kind's analysis draws one for it
    (single: success.png; multi: bounds_vs_measured.png with a swept collective and bounds,
    else success.png over the grid; fairness: one plot per analysis)."""
    raw = read_config(path)
    kind = _kind(raw)
    cfg = experiment_module(kind).parse_config(raw)
    assert cfg.output.plot, f"{path.name}: output.plot is off"
    if kind == "fairness":
        assert cfg.analyses, f"{path.name}: no analysis, so no plot"


def test_defenses_table_fits_in_100_columns(tmp_path):
    """A small real sweep with defense_adult's grid (defenses x the collective's answers)."""
    from acakit.analyses import run_experiment

    grid = read_config(EXAMPLES / "defense_adult.yaml")["sweep"]["grid"]
    grid["firm.defense"] = grid["firm.defense"][:2]  # none, isolation_forest
    raw = {"name": "defenses", "dataset": {"name": "product_ratings",
                                           "params": {"n_samples": 3000, "n_features": 4}},
           "firm": {"name": "empirical_bayes"},
           "collective": {"strategy": "plant", "target": "rating_1",
                          "signal": {"type": "set_columns", "values": {"f0": 0, "f1": 0}}},
           "sweep": {"alpha": [0.0, 0.05, 0.2], "seed": [0], "grid": grid},
           "output": {"plot": False}}
    res = run_experiment(raw, out_dir=str(tmp_path), progress=False)
    assert res.defenses is not None and len(res.defenses) == 6
    text = _render(res)
    _assert_no_cut_number(text, "defenses")
    assert "camouflage=1" in text and "isolation" in text
