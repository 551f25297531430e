"""``acakit audit``: the battery, the self-contained HTML report, the one-line errors."""

from __future__ import annotations

import base64
import doctest
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import acakit.audit as audit_mod
from acakit.audit import AuditError, audit, choose_signal_columns, relabelings_needed
from acakit.data import load


def _export(name: str, path: Path, label: str) -> Path:
    ds = load(name)
    df = ds.X.copy()
    df[label] = np.asarray(ds.classes)[np.asarray(ds.y)]
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def german_csv(tmp_path_factory) -> Path:
    return _export("german_credit", tmp_path_factory.mktemp("audit") / "german.csv", "credit")


@pytest.fixture(scope="module")
def report(german_csv):
    return audit(german_csv, "credit", "sklearn.linear_model.LogisticRegression", sensitive="sex",
                 alphas=[0, 0.02, 0.1], seeds=1, progress=False)


def _cli(*args: str):
    from acakit.cli import _register_plugins, app

    _register_plugins()
    return CliRunner().invoke(app, ["audit", *args])


def test_docstring_examples():
    assert doctest.testmod(audit_mod, optionflags=doctest.ELLIPSIS).failed == 0


def test_signal_columns_rarest_first_skip_ids_and_excluded():
    X = pd.DataFrame({"id": [f"u{i}" for i in range(300)], "color": ["red"] * 290 + ["blue"] * 10,
                      "shape": ["sq"] * 295 + ["tri"] * 5, "sex": ["f"] * 1 + ["m"] * 299,
                      "age": np.arange(300)})
    types = {"id": "categorical", "color": "categorical", "shape": "categorical", "sex": "categorical",
             "age": "numeric"}
    cols = choose_signal_columns(X, types, exclude=["sex"])
    assert cols == [("shape", "tri"), ("color", "blue"), ("age", 299 + 299)]


def test_battery_report_numbers(report):
    s = report.summary.set_index("battery")
    assert list(s.index) == ["plant (weak: 1 column)", "plant (medium: 2 columns)",
                             "plant (strong: 3 columns)", "plant feature-only (strong)", "erase (strong)"]
    # three strengths set 1, 2, 3 columns; feature-only and erasure use the strongest signal
    assert [len(v.split(", ")) for v in s["signal"]] == [1, 2, 3, 3, 3]
    # every battery ran at every α (one seed); success is a probability
    assert len(report.results) == 5 * 3
    assert report.curves["erasure_success"].between(0, 1).all()
    plant = report.curves[report.curves["battery"].str.startswith("plant (")]
    assert plant["success_all"].between(0, 1).all()
    # a 10% planting collective of rare values steers logistic regression on German credit
    assert s.loc["plant (strong: 3 columns)", "success at largest α"] > 0.9
    # the theory column is the planner's number for the estimated Δ, ξ
    from acakit.theory.planner import plan

    row = s.loc["plant (weak: 1 column)"]
    p = plan(0.9, gap=row["gap Δ"], signal_mass=row["signal mass ξ"], n_train=report.inputs["n_train"])
    assert row["theory α* (bound)"] == pytest.approx(p.critical_mass)
    # accuracy cost is clean minus retrained accuracy, in percentage points
    c = report.curves
    assert np.allclose(c["accuracy_drop_pp"], 100 * (c["clean_accuracy"] - c["accuracy"]))
    assert (c.loc[c["alpha"] == 0, "accuracy_drop_pp"].abs() < 1e-9).all()


def test_fairness_battery(report):
    fs = report.fairness_summary
    assert report.inputs["minority"] == "female" and report.inputs["favorable"] == "good"
    assert fs["no_action_gap"] > 0
    t = report.fairness
    assert {"relabel", "baseline", "no_action"} <= set(t["kind"])
    assert fs["best_gap"] == pytest.approx(t.loc[(t["kind"] == "relabel")
                                                 & (t["method"] == "probability"), "eo_gap"].min())


def test_relabelings_needed_picks_fewest_flips():
    t = pd.DataFrame({"kind": ["no_action", "relabel", "relabel", "relabel"],
                      "method": ["none", "probability", "probability", "probability"],
                      "n_flips": [0, 10, 20, 30], "eo_gap": [0.2, 0.15, 0.09, 0.05],
                      "error": [0.3, 0.3, 0.31, 0.32]})
    r = relabelings_needed(t)
    assert r["goal"] == 0.1 and r["flips_needed"] == 20 and r["best_flips"] == 30
    assert relabelings_needed(t, goal=0.01)["flips_needed"] is None


def test_html_is_self_contained(report, tmp_path):
    path = report.write(tmp_path / "r" / "audit.html")
    text = path.read_text()
    # no external assets: every src is an embedded data URI, no link/script tags, no URLs
    srcs = re.findall(r'src="([^"]*)"', text)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text
    for needle in ("Summary", "Clean-accuracy cost", "Minority relabeling", "Reproduce",
                   "acakit audit --data", "acakit plan --gap", "plant_weak_1_column.yaml"):
        assert needle in text


def test_reproduce_commands_run(report, tmp_path):
    """The embedded plan command gives the report's critical mass; a config reruns a battery."""
    cmds = [c for c in report.commands if c.startswith("acakit plan")]
    assert cmds
    args = cmds[0].split("   #")[0].split()[2:]
    out = subprocess.run([sys.executable, "-m", "acakit", "plan", *args], capture_output=True,
                         text=True, check=True)
    got = json.loads(out.stdout)["critical_mass"]
    want = report.summary.iloc[0]["theory α* (bound)"]
    assert (got is None and not np.isfinite(want)) or got == pytest.approx(want, abs=1e-12)
    from acakit.analyses.single import run_config
    from acakit.engine.config import read_config

    cfg_path = tmp_path / "plant_strong.yaml"
    cfg_path.write_text(report.configs["plant (strong: 3 columns)"])
    res = run_config(read_config(cfg_path), jobs=1, out_dir=str(tmp_path / "out"), progress=False,
                     cache=False)
    mine = report.results[report.results["battery"] == "plant (strong: 3 columns)"]
    assert np.allclose(np.sort(res.results["success"]), np.sort(mine["success"]))


@pytest.mark.parametrize("args, message", [
    (["--label", "credit"], "does not exist"),
    (["--label", "nope"], "label: column 'nope' is not in"),
    (["--label", "credit", "--firm", "sklearn.linear_model.NoSuchModel"], "cannot import"),
    (["--label", "credit", "--firm", "nosuchpackage.Model"], "'nosuchpackage.Model' is not under an allowed"),
    (["--label", "credit", "--firm", "os.getcwd"], "'os.getcwd' is not under an allowed module"),
    (["--label", "credit", "--firm", "sklearn.linear_model.LinearRegression"], "is a regressor, not a"),
    (["--label", "credit", "--firm", "sklearn.utils.check_array"], "is not an estimator class"),
    (["--label", "credit", "--sensitive", "colour"], "sensitive: column 'colour'"),
    (["--label", "credit", "--alphas", "0,abc"], "alphas: '0,abc'"),
    (["--label", "credit", "--alphas", "0,2"], "alphas: 2.0 is not a fraction"),
    (["--label", "credit", "--target", "maybe"], "target:"),
    (["--label", "credit", "--sensitive", "sex", "--minority", "alien"], "minority: 'alien'"),
])
def test_one_line_errors(german_csv, tmp_path, args, message):
    data = str(german_csv) if "does not exist" not in message else str(tmp_path / "missing.csv")
    firm = [] if "--firm" in args else ["--firm", "sklearn.linear_model.LogisticRegression"]
    res = _cli("--data", data, *firm, *args, "--out", str(tmp_path / "a.html"), "-q")
    assert res.exit_code == 2, res.output
    err = res.output.strip()
    assert message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1 or "error:" in err.splitlines()[0]
    assert not (tmp_path / "a.html").exists()


def test_malformed_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b'a,b,c\n1,2,3\n4,"5\n' + bytes(range(128, 255)) * 3)
    res = _cli("--data", str(bad), "--label", "a", "--firm", "sklearn.linear_model.LogisticRegression")
    assert res.exit_code == 2
    assert "is not a readable CSV file" in res.output and "Traceback" not in res.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    res = _cli("--data", str(empty), "--label", "a", "--firm", "sklearn.linear_model.LogisticRegression")
    assert res.exit_code == 2 and "not a readable CSV" in res.output


def test_audit_api_errors(german_csv):
    with pytest.raises(AuditError, match="success"):
        audit(german_csv, "credit", "logistic_regression", success=1.5, progress=False)
    with pytest.raises(AuditError, match="seeds"):
        audit(german_csv, "credit", "logistic_regression", seeds=0, progress=False)


@pytest.mark.slow
def test_adult_audit_writes_one_self_contained_file(tmp_path):
    """Acceptance: the bundled Adult data as a CSV, logistic regression, one file.

    The issue's "< 5 minutes" is measured by running the command and reported in the note (and
    printed here); a wall-clock assert would fail on a loaded machine, not on a broken audit.
    """
    csv = _export("adult", tmp_path / "adult.csv", "income")
    out = tmp_path / "adult_audit.html"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "acakit", "audit", "--data", str(csv), "--label", "income",
         "--sensitive", "sex", "--firm", "sklearn.linear_model.LogisticRegression", "--out", str(out),
         "-q"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adult.csv", "adult_audit.html"]
    text = out.read_text()
    assert "http://" not in text and "https://" not in text and text.count("data:image/png;base64,") == 4
    print(f"adult audit: {seconds:.0f} s")
