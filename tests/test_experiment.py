"""Experiments end to end through the public API."""

from __future__ import annotations

import pandas as pd
import pytest

from acakit.analyses.single import run_config
from acakit.engine.config import ConfigError, expand, parse_config


def ratings_config(**sweep):
    return {
        "name": "ratings",
        "dataset": {"name": "product_ratings",
                    "params": {"n_samples": 10000, "n_features": 5, "n_values": 3}},
        "firm": {"name": "empirical_bayes"},
        "collective": {"strategy": "plant",
                       "signal": {"type": "set_columns", "values": {"f3": 7, "f4": 7}},
                       "target": "rating_2"},
        "sweep": {"alpha": [0.0, 0.01, 0.05], "seed": [0, 1]} | sweep,
        "output": {"plot": False},
    }


def test_planting_on_empirical_bayes_rises_to_one(tmp_path):
    res = run_config(ratings_config(), out_dir=str(tmp_path), progress=False)
    s = res.summary.set_index("alpha_requested" if "alpha_requested" in res.summary else "alpha")
    by_alpha = res.results.groupby("alpha_requested")["success"].mean()
    assert by_alpha[0.0] <= 0.01
    assert by_alpha[0.05] >= 0.95
    assert by_alpha[0.0] < by_alpha[0.01] < by_alpha[0.05] or by_alpha[0.01] >= 0.95
    assert len(s) == 3
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "summary.csv").is_file()


def test_same_config_same_numbers(tmp_path):
    a = run_config(ratings_config(alpha=[0.02]), out_dir=str(tmp_path / "a"), progress=False)
    b = run_config(ratings_config(alpha=[0.02]), out_dir=str(tmp_path / "b"), progress=False)
    cols = [c for c in a.results if not c.endswith("seconds")]
    pd.testing.assert_frame_equal(a.results[cols], b.results[cols])


def test_parallel_equals_serial(tmp_path):
    cfg = ratings_config(alpha=[0.01], seed=[0, 1, 2])
    a = run_config(cfg, jobs=1, out_dir=str(tmp_path / "a"), progress=False)
    b = run_config(cfg, jobs=2, out_dir=str(tmp_path / "b"), progress=False)
    cols = ["cell_id", "seed", "n_members", "success", "accuracy"]
    pd.testing.assert_frame_equal(a.results[cols], b.results[cols])


def test_feature_only_and_erase_run(tmp_path):
    cfg = ratings_config(alpha=[0.05], seed=[0])
    cfg["collective"]["strategy"] = "plant_feature_only"
    cfg["collective"]["eligibility"] = "target"
    fo = run_config(cfg, out_dir=str(tmp_path / "fo"), progress=False).results.iloc[0]
    assert 0.0 <= fo["success"] <= 1.0 and fo["n_members"] == 350
    cfg["collective"] = {"strategy": "erase", "signal": {"type": "set_columns", "values": {"f0": 0}},
                         "reference": {"name": "empirical_bayes"}}
    er = run_config(cfg, out_dir=str(tmp_path / "er"), progress=False).results.iloc[0]
    # ideal erasure with the exact reference keeps the firm's answer on g(x) near f0's
    assert er["erasure_success"] > 0.5


def test_grid_cells_have_stable_ids():
    cfg = ratings_config()
    cfg["sweep"]["grid"] = {"firm.name": ["empirical_bayes", "logistic_regression"]}
    cells = expand(parse_config(cfg))
    assert len(cells) == 2 * 3 * 2
    assert len({c.cell_id for c in cells}) == len(cells)
    reordered = dict(reversed(list(cfg.items())))
    reordered["collective"] = dict(reversed(list(cfg["collective"].items())))
    assert [c.cell_id for c in expand(parse_config(reordered))] == [c.cell_id for c in cells]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"sweep": {"alpha": [0.1, 1.5]}}, "sweep.alpha: Value error, 1.5 is not a fraction in [0, 1]"),
        ({"dataset": {"name": "nope"}}, "dataset.name"),
        ({"collective": {"target": "rating_9"}}, "collective.target: 'rating_9' is not a class"),
        ({"collective": {"strategy": "steal"}}, "collective.strategy"),
        ({"collective": {"signal": {"type": "trigger"}}}, "collective.signal.type: 'trigger' does not fit"),
        ({"collective": {"signal": {"type": "set_columns", "values": {"zz": 1}}}},
         "collective.signal.values: column 'zz' is not in"),
        ({"firm": {"name": "forest"}}, "firm.name"),
        ({"sweep": {"seed": []}}, "0 cells"),
        ({"colective": {}}, "colective: Extra inputs are not permitted"),
    ],
)
def test_bad_configs_name_the_field(patch, message, tmp_path):
    cfg = ratings_config()
    for k, v in patch.items():
        cfg[k] = (cfg.get(k, {}) | v) if isinstance(v, dict) and k in cfg else v
    with pytest.raises(ConfigError) as e:
        run_config(cfg, out_dir=str(tmp_path), progress=False)
    msg = str(e.value)
    assert "\n" not in msg
    assert message.replace("Value error, ", "") in msg
    assert not (tmp_path / "results.csv").exists()


def test_bbc_trigger_success_increases_with_alpha(tmp_path):
    cfg = {
        "dataset": {"name": "bbc_news"},
        "firm": {"name": "tfidf_linear"},
        "collective": {"strategy": "plant", "target": "tech",
                       "signal": {"type": "trigger", "token": "zqxv", "every": 20, "count": 10}},
        "sweep": {"alpha": [0.0, 0.01, 0.05], "seed": [0]},
        "output": {"plot": False},
    }
    r = run_config(cfg, out_dir=str(tmp_path), progress=False).results.set_index("alpha_requested")
    s = r["success"]
    assert s[0.0] < s[0.01] < s[0.05]
    # clearly above the no-collective rate: CIs do not overlap
    assert r.loc[0.01, "success_lo"] > r.loc[0.0, "success_hi"]


def test_fit_warnings_are_recorded_per_cell_not_printed(tmp_path, recwarn):
    import io

    from rich.console import Console

    cfg = ratings_config(alpha=[0.0, 0.05], seed=[0])
    # one lbfgs iteration: scikit-learn warns that the solver did not converge, on every fit
    cfg["firm"] = {"name": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1}}
    res = run_config(cfg, out_dir=str(tmp_path), progress=False)
    assert not [w for w in recwarn if "converge" in str(w.message).lower()]
    assert res.results["fit_warnings"].str.contains("ConvergenceWarning").all()
    out = io.StringIO()
    res.show(Console(file=out, width=200))
    assert "2 of 2 cells warned while fitting (column fit_warnings): ConvergenceWarning" in out.getvalue()
    assert "fit_warnings" in pd.read_csv(tmp_path / "results.csv").columns
    cfg["firm"]["params"] = {"max_iter": 1000}
    quiet = run_config(cfg, out_dir=str(tmp_path / "quiet"), progress=False).results
    assert (quiet["fit_warnings"] == "").all()
