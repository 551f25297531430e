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
from acakit.audit import (
    PROXY_THRESHOLD,
    AuditError,
    audit,
    choose_signal_columns,
    proxy_scores,
    relabelings_needed,
    select_signal_columns,
)
from acakit.data import load
from audit_text import normalised, visible_text

# One worker runs this module (pytest -n), and its audits are session fixtures: each is made
# once, however the worker orders this module's tests among others.
pytestmark = pytest.mark.xdist_group("audit")


def _export(name: str, path: Path, label: str) -> Path:
    ds = load(name)
    df = ds.X.copy()
    df[label] = np.asarray(ds.classes)[np.asarray(ds.y)]
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def german_csv(tmp_path_factory) -> Path:
    return _export("german_credit", tmp_path_factory.mktemp("audit") / "german.csv", "credit")


@pytest.fixture(scope="session")
def report(german_csv):
    return audit(german_csv, "credit", "sklearn.linear_model.LogisticRegression", sensitive="sex",
                 alphas=[0, 0.02, 0.1], seeds=1, progress=False)


def _cli(*args: str):
    from acakit.cli import _register_plugins, app

    _register_plugins()
    return CliRunner().invoke(app, ["audit", *args])


@pytest.mark.parametrize("name", ["acakit.audit", "acakit.signal_columns", "acakit.audit_report",
                                  "acakit.analyses.audit", "acakit.engine.audit_configs"])
def test_docstring_examples(name):
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and (result.attempted or module is audit_mod)


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
    assert report.inputs["minority"] == ["female"] and report.inputs["favorable"] == ["good"]
    assert list(report.fairness_by) == ["sex"] and report.fairness_by["sex"]["summary"] is fs
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
    (["--label", "credit", "--actionable", "purpose,colour"],
     "actionable: column 'colour' is not a feature column; feature columns: status, duration"),
    (["--label", "credit", "--immutable", "credit"], "immutable: column 'credit' is not a feature"),
    (["--label", "credit", "--actionable", "age", "--immutable", "age"], "also given as --immutable"),
    (["--label", "credit", "--sensitive", "sex", "--sensitive", "sex"], "sensitive: column 'sex' is given"),
    (["--label", "credit", "--sensitive", "sex", "--sensitive", "age_factor", "--minority", "female",
      "--minority", "old", "--minority", "x"], "minority: given 3 times for 2 --sensitive columns"),
    (["--label", "credit", "--minority", "female"], "minority: given without --sensitive"),
    (["--label", "credit", "--keep", "applicant"], "keep: column 'applicant' is not a feature column"),
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


# --------------------------------------------------------------------------- signal columns


def _groups_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame]:
    """A group attribute, a nickname that gives it away 95% of the time, and unrelated columns."""
    rng = np.random.RandomState(seed)
    group = rng.choice(["A", "B"], n, p=[0.7, 0.3])
    flip = rng.rand(n) < 0.05
    nick = np.where((group == "A") ^ flip, rng.choice(["al", "bo", "cy"], n), rng.choice(["dee", "ed"], n))
    X = pd.DataFrame({"nickname": nick, "color": rng.choice(["red", "blue", "grey"], n),
                      "height": rng.randn(n), "group": group})
    types = {"nickname": "categorical", "color": "categorical", "height": "numeric",
             "group": "categorical"}
    return X, types, X[["group"]]


def test_proxy_scores_flag_the_proxy_only():
    X, types, sens = _groups_frame()
    s = proxy_scores(X, types, sens).set_index("column")
    assert list(s.index) == ["nickname", "color", "height"]  # the attribute itself is not scored
    assert s.loc["nickname", "score"] > 0.8 and s.loc["nickname", "proxy"]
    assert (s.loc[["color", "height"], "score"] < 0.2).all() and not s.loc[["color", "height"], "proxy"].any()
    # a numeric column that thresholds the attribute (age -> "age < 25") is a proxy too
    age = np.random.RandomState(1).randint(18, 70, 400)
    t = proxy_scores(pd.DataFrame({"age": age}), {"age": "numeric"},
                     pd.DataFrame({"young": np.where(age < 25, "y", "n")}))
    assert t["score"].iloc[0] > 0.9 >= PROXY_THRESHOLD


def test_select_signal_columns_default_actionable_immutable():
    X, types, sens = _groups_frame()
    default = select_signal_columns(X, types, sens)
    assert default.candidates == ["color", "height"]
    assert default.excluded["group"] == "sensitive attribute"
    assert default.excluded["nickname"].startswith("proxy of group (score 0.")
    assert select_signal_columns(X, types, sens, immutable=["height"]).candidates == ["color"]
    assert select_signal_columns(X, types).candidates == list(types)  # no sensitive: nothing to exclude
    # --actionable is the user's word: used as given, a listed proxy is used with a caution
    act = select_signal_columns(X, types, sens, actionable=["nickname", "height"])
    assert act.candidates == ["nickname", "height"]
    assert act.excluded == {"color": "not in --actionable", "group": "not in --actionable"}
    assert act.cautions["nickname"].startswith("proxy of group")
    with pytest.raises(AuditError, match=r"^actionable: column 'shoe' is not a feature column; "
                                         r"feature columns: nickname, color, height, group$"):
        select_signal_columns(X, types, sens, actionable=["shoe"])


def test_german_report_excludes_the_sex_proxy_and_is_not_trivial(report):
    choice = report.signal_choice
    assert choice.excluded["sex"] == "sensitive attribute"
    assert choice.excluded["personal_status"].startswith("proxy of sex (score 1.00)")  # "male: single"
    assert all("personal_status" not in v and "sex =" not in v for v in report.summary["signal"])
    assert report.trivial == []
    text = report.to_html()
    assert "trivial firm" not in text and "Confirm that the contributors control these columns" in text


# --------------------------------------------------------------------------- a trivial firm


@pytest.fixture(scope="session")
def rare_audit(tmp_path_factory):
    """8% positives unrelated to the features: logistic regression predicts "no" everywhere.

    Two sensitive columns (both audited), a nickname that gives one away (a proxy) and a column
    name that is HTML; one seed, two sizes (about 15 s).
    """
    tmp = tmp_path_factory.mktemp("rare")
    X, _, _ = _groups_frame(600, seed=2)
    rng = np.random.RandomState(3)
    X = X.rename(columns={"color": "<i>color</i>"})
    X["sex"] = rng.choice(["f", "m"], len(X))
    X["y"] = np.where(rng.rand(len(X)) < 0.08, "yes", "no")
    csv = tmp / "rare.csv"
    X.to_csv(csv, index=False)
    out = tmp / "rare.html"
    from acakit.analyses.style import FIGURE_CHECKS

    def keep(fig, where):  # the texts on the audit's figures
        RARE_FIGURE_TEXTS.append([t.get_text() for t in fig.texts]
                                 + [t.get_text() for ax in fig.axes
                                    for t in (ax.get_legend().get_texts() if ax.get_legend() else [])])

    FIGURE_CHECKS.append(keep)
    try:
        res = _cli("--data", str(csv), "--label", "y", "--firm",
                   "sklearn.linear_model.LogisticRegression", "--sensitive", "group", "--sensitive",
                   "sex", "--alphas", "0,0.05", "--seeds", "1", "-j", "1", "-q", "--out", str(out))
    finally:
        FIGURE_CHECKS.remove(keep)
    assert res.exit_code == 0, res.output
    return res.output, out.read_text()


RARE_FIGURE_TEXTS: list[list[str]] = []


def test_the_planting_figure_names_its_bound_and_draws_the_trivial_firm_flag(rare_audit):
    """The plug-in bound is said to be a Bayes-optimal firm's on the figure itself, and the
    trivial-firm warning of the terminal and the report is drawn on it too."""
    planting = next(t for t in RARE_FIGURE_TEXTS
                    if any("plug-in bound, Bayes-optimal firm" in x for x in t))
    joined = " ".join(planting)
    assert "not a bound on the firm trained here" in joined
    assert "trivial firm (predicts one class on clean data): predicts one class (no)" in joined


def test_trivial_firm_warning_in_terminal_and_report(rare_audit):
    output, text = rare_audit
    assert "warning: trivial firm: predicts one class (no) on 100.0% of test points" in output
    assert "<div class='warn'><p><b>Warning: trivial firm.</b>" in text
    assert "predicts one class (no) on 100.0% of test points" in text
    # erasure is 1.0 with no collective at all: measured α 0 (no member), said beside it
    assert "success at α = 0 (no" in output and "<th>success at α = 0 (no collective)</th>" in text
    assert "already 1 without a collective (α = 0)" in text


def test_every_sensitive_column_is_audited(rare_audit):
    output, text = rare_audit
    assert "<h2>Minority relabeling: group</h2>" in text and "<h2>Minority relabeling: sex</h2>" in text
    assert "minority relabeling (group = B)" in output and "minority relabeling (sex = " in output
    assert text.count("fairness Pareto frontier (") == 2
    assert "--sensitive group --minority B --favorable" in text and "--sensitive sex --minority" in text
    assert "minority_relabeling_group.yaml" in text and "minority_relabeling_sex.yaml" in text


def test_signal_columns_named_and_html_escaped(rare_audit):
    output, text = rare_audit
    assert "signal columns: <i>color</i>, height (confirm the contributors control them)" in output
    assert "Confirm that the contributors control these columns" in text
    assert "<td>nickname</td><td>proxy of group (score 0." in text
    assert "<td>group</td><td>sensitive attribute</td>" in text
    # the column name is shown, escaped, never as markup
    assert "&lt;i&gt;color&lt;/i&gt;" in text and "<i>color</i>" not in text


LOANS = Path(__file__).resolve().parents[1] / "examples" / "data" / "loans.csv"


@pytest.fixture(scope="session")
def loans_audit():
    """The shipped loans CSV (397 rows, an id column kept with ``keep``, so the features are those
    of the report recorded in ``tests/data/audit_loans_before.txt``), the default α grid, one
    seed."""
    from rich.console import Console

    from acakit.analyses.style import FIGURE_CHECKS, layout_problems

    lines = Console(record=True, width=300)
    problems: list[str] = []

    def check(fig, path):
        problems.extend(layout_problems(fig))

    FIGURE_CHECKS.append(check)
    try:
        r = audit(LOANS, "approved", "sklearn.linear_model.LogisticRegression", seeds=1,
                  sensitive="sex", progress=False, console=lines, keep=["applicant_id"])
    finally:
        FIGURE_CHECKS.remove(check)
    return r, lines.export_text(), problems


def test_audit_figures_hide_no_data_and_no_text(loans_audit):
    r, _, problems = loans_audit
    assert len(r.figures) >= 4  # planting, erasure, accuracy, the minority relabeling
    assert problems == []


@pytest.fixture(scope="session")
def loans_dropped(tmp_path_factory):
    """``acakit audit`` on the loans CSV, which drops its id column by itself (α 0, 0.001, 0.05;
    one seed): the command's result, the report it made (read by a spy on
    ``acakit.audit.audit``) and the HTML it wrote."""
    import acakit.audit

    made = []

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    real = acakit.audit.audit
    out = tmp_path_factory.mktemp("loans") / "a.html"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(acakit.audit, "audit", spy)
        res = _cli("--data", str(LOANS), "--label", "approved", "--firm",
                   "sklearn.linear_model.LogisticRegression", "--alphas", "0,0.001,0.05", "--seeds",
                   "1", "--out", str(out), "-j", "1")
    assert res.exit_code == 0, res.output
    assert len(made) == 1
    return res, made[0], out.read_text()


def test_a_zero_critical_mass_is_said_in_words_with_its_reason(loans_audit, loans_dropped):
    r, _, _ = loans_audit
    zero = r.summary[r.summary["theory α* (bound)"] == 0]
    assert len(zero)  # on loans.csv the 2- and 3-column signals never occur (ξ = 0), erase is ideal
    assert r.curves["erasure_success_lo"].notna().any()  # the erasure figure has its band
    res, _, _ = loans_dropped
    flat = " ".join(res.stdout.split())
    assert "any α > 0" in flat and "Bayes-optimal firm (ε = 0)" in flat
    assert "(ξ = 0): any α > 0 suffices" in flat  # the reason under the table


def test_default_grid_is_sized_to_the_data_and_each_measurement_is_listed_once(loans_audit):
    r, _, _ = loans_audit
    n_train = r.inputs["n_train"]
    positive = [a for a in r.inputs["alphas"] if a > 0]
    assert round(min(positive) * n_train) >= 2  # at least 2 members at the smallest size
    assert (r.results.loc[r.results["alpha_requested"] > 0, "n_members"] >= 2).all()
    c = r.curves
    assert not c.duplicated(["battery", "alpha_requested"]).any()
    assert len(c) == c["battery"].nunique() * len(r.inputs["alphas"])


def test_an_id_column_is_left_out_and_said_so_unless_kept(loans_audit, loans_dropped):
    """Issue 35: a detected id column is dropped (terminal and report say so); ``keep`` keeps it."""
    r, text, _ = loans_audit
    assert "'applicant_id' has a different value in every row (an id?): kept as a feature (--keep)" in text
    assert r.inputs["keep"] == ["applicant_id"] and r.inputs["drop"] == []
    assert any(w.startswith("warning: 'applicant_id' has a different value") for w in r.warnings)
    res, dropped, html = loans_dropped
    out = " ".join(res.stderr.split())  # the audit's stage lines
    line = ("warning: 'applicant_id' has a different value in every row (an id?): as a feature it "
            "would let the firm memorise rows, so it is left out (keep it with --keep applicant_id)")
    assert line in out
    assert "α = 0.001 (0) give fewer than 2 members" in out
    assert dropped.inputs["drop"] == ["applicant_id"] and dropped.inputs["keep"] == []
    assert "applicant_id" not in dropped.summary["signal"].str.cat()
    assert all("drop:\n    - applicant_id" in cfg for cfg in dropped.configs.values())
    assert any("--drop applicant_id" in c for c in dropped.commands)
    shown = normalised(html, LOANS)
    assert "Warnings Every warning and note the terminal showed while auditing: " in shown
    assert line in shown


def _warnings_section(html: str) -> str:
    """The inside of the report's Warnings section."""
    return html.split("<div id='warnings'", 1)[1].split(">", 1)[1].split("</div>", 1)[0]


def test_every_terminal_warning_is_in_the_report(loans_dropped, rare_audit):
    """Issue 35: each ``warning:`` / ``note:`` line of the terminal is in the report's Warnings."""
    res, _, html = loans_dropped
    for output, page in ((res.stderr + res.stdout, html), rare_audit):
        said = [" ".join(ln.split()) for ln in output.splitlines()
                if ln.startswith(("warning:", "note:"))]
        assert said
        section = _warnings_section(page)
        items = [visible_text(li) for li in re.findall(r"<li>(.*?)</li>", section)]
        for line in said:  # the terminal wraps a long line: its first part starts the item
            assert any(item.startswith(line) for item in items), (line, items)
    assert "warning: data: loans.csv: dropped 3 row(s) without a label ('approved')" in visible_text(html)


def test_report_text_and_numbers_unchanged_by_the_template(loans_audit):
    """Issue 38: the report of loans.csv (id kept, the features of before) reads as the one
    recorded before the audit was split into layers: same text, same numbers. The Warnings
    section is new (issue 35) and is compared on its own."""
    r, _, _ = loans_audit
    html = r.to_html()
    before = (Path(__file__).parent / "data" / "audit_loans_before.txt").read_text().strip()
    assert normalised(html, LOANS, skip_ids=("warnings",)) == before
    warned = visible_text(_warnings_section(html))
    assert warned.startswith("Warnings") and "kept as a feature (--keep)" in warned


SCRIPT = "<script>alert(1)</script>"


def test_user_text_in_the_report_is_escaped(tmp_path):
    """Issue 38: a column name, a class label and a file name with ``<script>`` are shown as text."""
    rng = np.random.RandomState(0)
    n = 120
    df = pd.DataFrame({SCRIPT: rng.choice(["a", "b", "c"], n), "x": rng.randn(n),
                       "y": np.where(rng.rand(n) < 0.3, SCRIPT, "ok")})
    folder = tmp_path / "<script>alert(1)<"  # the path ends in .../<script>alert(1)</script>...
    folder.mkdir()
    csv = folder / "script><script>alert(1).csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "report.html"
    res = _cli("--data", str(csv), "--label", "y", "--firm", "sklearn.linear_model.LogisticRegression",
               "--alphas", "0.1", "--seeds", "1", "-j", "1", "-q", "--out", str(out))
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "<script" not in html.lower()  # no raw tag from user text, anywhere
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the column, the class, the path
    text = visible_text(html)
    assert f"acakit audit of script>{SCRIPT[:-9]}.csv" in text  # the file name, as text
    assert f"target class {SCRIPT}" in text and f"classes {SCRIPT}, ok" in text
    assert f"{SCRIPT} = " in text  # the signal column, in the summary
    assert f"{SCRIPT}<script>alert(1).csv" in text  # the whole path, in the commands and configs
