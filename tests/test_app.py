"""The planner app: every page through Streamlit's AppTest (inputs -> numbers, bad inputs ->
a message, not a traceback), and the pure functions behind it."""

from __future__ import annotations

import doctest
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from acakit.app import PAGES, logic, main_script, page_script  # noqa: E402
from acakit.theory.planner import plan  # noqa: E402

TIMEOUT = 180


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(page_script(name)), default_timeout=TIMEOUT)
    return at.run()


def no_traceback(at: AppTest) -> None:
    assert len(at.exception) == 0, [e.value for e in at.exception]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def german_csv_bytes() -> bytes:
    from acakit.data import load

    ds = load("german_credit")
    df = ds.X.copy()
    df["credit"] = np.asarray(ds.classes)[np.asarray(ds.y)]
    return df.to_csv(index=False).encode()


# --------------------------------------------------------------------------- logic


def test_logic_doctests():
    assert doctest.testmod(logic, optionflags=doctest.ELLIPSIS).failed == 0


def test_plan_from_numbers_is_the_cli_plan():
    p = logic.plan_from_numbers(52_000, 0.0025, 0.35, 0.85, 0.01, 0.05)
    q = plan(0.85, gap=0.35, signal_mass=0.0025, epsilon=0.01, n_train=52_000, delta=0.05)
    assert p.to_dict() == q.to_dict()
    args = ["--gap", "0.35", "--signal-mass", "0.0025", "--epsilon", "0.01", "--target", "0.85",
            "--n-train", "52000", "--confidence", "0.05", "--json"]
    out = subprocess.run([sys.executable, "-m", "acakit", "plan", *args], capture_output=True, text=True,
                         check=True)
    cli = json.loads(out.stdout)
    assert cli["critical_mass"] == pytest.approx(p.critical_mass, abs=1e-12)
    assert cli["finite_critical_count"] == p.finite_critical_count


def test_helpers_and_validation():
    assert logic.signal_mass_from_counts(5, 1000) == 0.005
    assert logic.gap_from_share(0.35) == pytest.approx(0.3)
    assert logic.gap_from_share(0.8) == 0.0
    with pytest.raises(ValueError, match="records with the signal"):
        logic.signal_mass_from_counts(20, 10)
    with pytest.raises(ValueError, match="'x' is not a number"):
        logic.parse_floats("0.1, x", "sizes")
    with pytest.raises(ValueError, match="1.5 is not in"):
        logic.parse_floats("1.5", "sizes")
    with pytest.raises(ValueError, match="not a readable CSV"):
        logic.csv_columns(b"")
    with pytest.raises(ValueError, match="at least two columns"):
        logic.csv_columns(b"only\n1\n2\n")


def test_multi_plan_tiers_ordered_and_reduce_to_single():
    alone = logic.multi_plan(0.3, 0.001, 0.9, 100_000, logic.default_others().iloc[:0])
    s = alone.summary.set_index("tier")["critical_mass"]
    single = plan(0.9, gap=0.3, signal_mass=0.001).critical_mass
    for tier in ("alone", "full", "aggregate", "worst"):  # no other group: every tier is the single bound
        assert s[tier] == pytest.approx(single, rel=1e-9)
    mp = logic.multi_plan(0.3, 0.001, 0.9, 100_000, logic.default_others(), alpha=0.005)
    b = mp.summary.set_index("tier")
    assert b.loc["worst", "bound_at_alpha"] <= b.loc["aggregate", "bound_at_alpha"] <= b.loc[
        "full", "bound_at_alpha"] + 1e-12
    a_star = b["critical_mass"]
    assert a_star["worst"] >= a_star["aggregate"] >= a_star["full"]
    from acakit.multi.bounds import worst_case_bound

    a = b.loc["worst", "critical_mass"]
    assert worst_case_bound(a, (0.0015, 0.005), 0.3, 0.001) >= 0.9 - 1e-9
    assert worst_case_bound(a * (1 - 1e-6), (0.0015, 0.005), 0.3, 0.001) < 0.9
    bad = logic.default_others().assign(overlap=[0.5, 1.5])
    with pytest.raises(ValueError, match="overlap 1.5 is not a fraction"):
        logic.multi_plan(0.3, 0.001, 0.9, 100_000, bad)


def test_upload_stays_in_temp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with tempfile.TemporaryDirectory(prefix="acakit-app-") as tmp:
        path = logic.save_upload(german_csv_bytes(), tmp, "../../etc/evil name.csv")
        assert path.parent == Path(tmp) and path.name == "evil_name.csv"
        ds = logic.load_upload(path, "credit")
        assert len(ds) == 1000
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- pages


def test_every_page_is_in_the_menu():
    assert [f for f, _ in PAGES] == ["plan_numbers.py", "plan_data.py", "other_collectives.py", "fairness.py"]
    at = AppTest.from_file(str(main_script()), default_timeout=TIMEOUT).run()
    no_traceback(at)
    assert at.title[0].value == "Plan from numbers"
    for f, title in PAGES[2:]:
        at.switch_page(f"pages/{f}").run()
        no_traceback(at)
        assert at.title[0].value.startswith(title.split(":")[0])


def test_plan_numbers_page():
    at = page("plan_numbers.py")
    no_traceback(at)
    at.number_input(key="pn_n").set_value(52_000)
    at.number_input(key="pn_xi").set_value(0.0025)
    at.number_input(key="pn_gap").set_value(0.35)
    at.number_input(key="pn_target").set_value(0.85)
    at.number_input(key="pn_eps").set_value(0.01)
    at.button[0].click().run()
    no_traceback(at)
    m = metrics(at)
    p = plan(0.85, gap=0.35, signal_mass=0.0025, epsilon=0.01, n_train=52_000, delta=0.05)
    got = float(m["Critical mass α* (fraction of the training set)"])
    assert got == pytest.approx(p.critical_mass, abs=1e-9)
    assert m["Head count ⌈α* N⌉"] == f"{int(p.critical_count):,}"
    assert m["Finite-sample head count (95% (δ = 0.05))"] == f"{int(p.finite_critical_count):,}"
    assert downloads(at) == ["Download the numbers (CSV)", "Download the plot (PNG)"]
    assert len(at.get("image")) == 1


def test_plan_numbers_helper_mode():
    at = page("plan_numbers.py")
    at.radio(key="pn_mode").set_value("Help me estimate them").run()
    at.number_input(key="pn_records").set_value(20_000)
    at.number_input(key="pn_with_signal").set_value(30)
    at.number_input(key="pn_share").set_value(0.2)
    at.selectbox(key="pn_conf").set_value("no finite-sample bound")
    at.button[0].click().run()
    no_traceback(at)
    p = plan(0.9, gap=0.6, signal_mass=30 / 20_000, n_train=100_000)
    assert float(metrics(at)["Critical mass α* (fraction of the training set)"]) == pytest.approx(
        p.critical_mass, abs=1e-9)
    assert "ξ = 0.0015" in at.info[0].value


@pytest.mark.parametrize("setup, message", [
    ({"pn_target": 1.0, "pn_eps": 0.1}, "target (S*): success 1 is out of reach with ε > 0"),
    ({"pn_n": 1}, "n_train: 1 must be >= 2"),
])
def test_plan_numbers_invalid(setup, message):
    at = page("plan_numbers.py")
    for key, value in setup.items():
        at.number_input(key=key).set_value(value)
    at.button[0].click().run()
    no_traceback(at)
    assert errors(at) == [message] or message in errors(at)[0]
    assert not at.metric


def test_plan_numbers_helper_invalid():
    at = page("plan_numbers.py")
    at.radio(key="pn_mode").set_value("Help me estimate them").run()
    at.number_input(key="pn_records").set_value(5)
    at.number_input(key="pn_with_signal").set_value(50)
    at.button[0].click().run()
    no_traceback(at)
    assert "records with the signal: 50 must be between 0 and 5" in errors(at)[0]


def test_plan_data_page_bundled():
    at = page("plan_data.py")
    no_traceback(at)
    at.selectbox(key="pd_dataset").set_value("german_credit").run()
    assert at.multiselect(key="pd_columns_german_credit").value == ["purpose", "job"]
    at.text_input(key="pd_alphas").set_value("0, 0.02, 0.1")
    at.button(key="pd_run").click().run()
    no_traceback(at)
    m = metrics(at)
    assert float(m["Signal rarity ξ (estimated)"]) == 0  # the rarest pair of values never occurs
    assert 0 <= float(m["Base gap Δ (estimated)"]) <= 1
    assert downloads(at) == ["Download the numbers (CSV)", "Download the plot (PNG)"]
    table = at.dataframe[0].value
    assert list(table["alpha"]) == [0.0, 0.02, 0.1]
    assert table["measured_success_all"].between(0, 1).all()
    assert table["measured_success_all"].iloc[-1] > table["measured_success_all"].iloc[0]


@pytest.mark.parametrize("change, message", [
    (("text_input", "pd_alphas", "0, abc"), "collective sizes: 'abc' is not a number"),
    (("text_input", "pd_alphas", "0, 3"), "collective sizes: 3 is not in [0, 1]"),
    (("number_input", "pd_rows", 10), "rows: 10 is too few"),
    (("text_input", "pd_value_german_credit_job", ""), "signal: give a value for column 'job'"),
])
def test_plan_data_invalid(change, message):
    at = page("plan_data.py")
    at.selectbox(key="pd_dataset").set_value("german_credit").run()
    kind, key, value = change
    getattr(at, kind)(key=key).set_value(value)
    at.button(key="pd_run").click().run()
    no_traceback(at)
    assert any(message in e for e in errors(at)), errors(at)


def test_plan_data_numeric_value_must_be_number():
    at = page("plan_data.py")
    at.selectbox(key="pd_dataset").set_value("german_credit").run()
    at.multiselect(key="pd_columns_german_credit").set_value(["age"]).run()
    at.text_input(key="pd_value_german_credit_age").set_value("old")
    at.button(key="pd_run").click().run()
    no_traceback(at)
    assert "signal: column 'age' is numeric; 'old' is not a number" in errors(at)[0]


def test_plan_data_upload(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    at = page("plan_data.py")
    at.radio(key="pd_source").set_value("My own CSV file").run()
    at.get("file_uploader")[0].set_value(("g.csv", german_csv_bytes(), "text/csv"))
    at.run()
    no_traceback(at)
    assert at.selectbox(key="pd_upload-label").value == "credit"
    at.text_input(key="pd_alphas").set_value("0, 0.1")
    at.number_input(key="pd_rows").set_value(600)
    at.button(key="pd_run").click().run()
    no_traceback(at)
    assert not errors(at)
    assert list(at.dataframe[0].value["alpha"]) == [0.0, 0.1]
    tmp = Path(at.session_state["_acakit_tmp"].name)
    assert tmp.is_relative_to(Path(tempfile.gettempdir())) and len(list(tmp.iterdir())) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written in the working folder (no cache)


@pytest.mark.parametrize("content, message", [
    (b'a,b\n1,"2\n' + bytes(range(128, 256)), "upload: not a readable CSV file"),
    (b"", "upload: not a readable CSV file"),
    (b"x,y\n1,a\n2,a\n", "label: column 'y' has 1 distinct value(s)"),
])
def test_plan_data_bad_upload(content, message):
    at = page("plan_data.py")
    at.radio(key="pd_source").set_value("My own CSV file").run()
    at.get("file_uploader")[0].set_value(("bad.csv", content, "text/csv"))
    at.run()
    no_traceback(at)
    assert any(message in e for e in errors(at)), errors(at)


def test_other_collectives_page():
    at = page("other_collectives.py")
    no_traceback(at)
    m = metrics(at)
    mp = logic.multi_plan(0.3, 0.001, 0.9, 100_000, logic.default_others(), alpha=0.005)
    s = mp.summary.set_index("tier")
    assert float(m["Worst case: critical mass"]) == pytest.approx(s.loc["worst", "critical_mass"], rel=1e-5)
    assert m["Aggregate: head count"] == f"{int(s.loc['aggregate', 'critical_count']):,}"
    assert float(m["No other group: critical mass"]) == pytest.approx(
        plan(0.9, gap=0.3, signal_mass=0.001).critical_mass, rel=1e-5)
    assert downloads(at) == ["Download the numbers (CSV)", "Download the plot (PNG)"]
    # a third, conflicting group on the same signal makes the worst case harder
    at.number_input(key="oc_groups").set_value(3).run()
    no_traceback(at)
    assert float(metrics(at)["Worst case: critical mass"]) > s.loc["worst", "critical_mass"]


@pytest.mark.parametrize("key, value, message", [
    ("oc_low_0", 0.01, "need size low <= size <= size high"),
    ("oc_xi", 1.0, None),
    ("oc_alpha", 0.999, "your size: 0.999 is not in"),
    ("oc_n", 1, "training-set size: 1 must be >= 2"),
])
def test_other_collectives_invalid(key, value, message):
    at = page("other_collectives.py")
    at.number_input(key=key).set_value(value).run()
    no_traceback(at)
    if message is None:  # a valid extreme: the signal is everywhere -> a large critical mass, no error
        assert not errors(at) and float(metrics(at)["Worst case: critical mass"]) > 0.5
    else:
        assert any(message in e for e in errors(at)), errors(at)


def test_fairness_page():
    at = page("fairness.py")
    no_traceback(at)
    at.selectbox(key="fa_dataset").set_value("german_credit").run()
    assert at.selectbox(key="fa_minority_german_credit_sex").value == "female"
    assert at.selectbox(key="fa_favorable_german_credit").value == "good"
    at.button(key="fa_run").click().run()
    no_traceback(at)
    m = metrics(at)
    table = at.dataframe[0].value
    gap0 = float(table.loc[table["kind"] == "no_action", "eo_gap"].iloc[0])
    assert float(m["Equalized-odds gap today"]) == pytest.approx(gap0, abs=5e-4)
    assert {"relabel", "baseline", "no_action"} <= set(table["kind"])
    assert downloads(at) == ["Download the numbers (CSV)", "Download the plot (PNG)"]


@pytest.mark.parametrize("kind, key, value, message", [
    ("number_input", "fa_alpha", 0.0, "relabel.alpha: 0.0 is not a fraction of the minority"),
    ("text_input", "fa_budgets", "0, half", "budgets: 'half' is not a number"),
    ("multiselect", "fa_methods", [], "methods: choose at least one relabeling method"),
])
def test_fairness_invalid(kind, key, value, message):
    at = page("fairness.py")
    at.selectbox(key="fa_dataset").set_value("german_credit").run()
    getattr(at, kind)(key=key).set_value(value)
    at.button(key="fa_run").click().run()
    no_traceback(at)
    assert any(message in e for e in errors(at)), errors(at)


def test_fairness_upload_without_usable_sensitive():
    at = page("fairness.py")
    at.radio(key="fa_source").set_value("My own CSV file").run()
    df = pd.DataFrame({"x": np.arange(60) % 7, "g": ["a"] * 60, "y": (np.arange(60) % 2).astype(str)})
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    at.get("file_uploader")[0].set_value(("one_group.csv", buf.getvalue().encode(), "text/csv"))
    at.run()
    at.selectbox(key="fa_upload-sensitive").set_value("g").run()
    at.button(key="fa_run").click().run()
    no_traceback(at)
    assert errors(at), "a single-valued sensitive column must give a message"


def test_app_command_line(tmp_path):
    from typer.testing import CliRunner

    from acakit.app.cli import streamlit_command
    from acakit.cli import _register_plugins, app

    cmd = streamlit_command(8765)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == main_script()
    assert "--browser.gatherUsageStats" in cmd and cmd[cmd.index("--server.address") + 1] == "localhost"
    _register_plugins()
    res = CliRunner().invoke(app, ["app", "--port", "0"])
    assert res.exit_code == 2 and "port: 0 is not a TCP port" in res.output


def test_plan_data_text_trigger_upload():
    rng = np.random.RandomState(0)
    words = ["good", "bad", "fine", "great", "awful", "ok", "meh", "nice", "poor", "super"]
    texts = [" ".join(rng.choice(words, 30)) for _ in range(600)]
    y = ["pos" if t.count("good") + t.count("great") > t.count("bad") + t.count("awful") else "neg"
         for t in texts]
    csv = pd.DataFrame({"review": texts, "sentiment": y}).to_csv(index=False).encode()
    at = page("plan_data.py")
    at.radio(key="pd_source").set_value("My own CSV file").run()
    at.get("file_uploader")[0].set_value(("reviews.csv", csv, "text/csv"))
    at.run()
    at.selectbox(key="pd_upload-text").set_value("review").run()
    assert at.text_input(key="pd_token").value == "zqxj"
    assert at.selectbox(key="pd_firm").options[0] == "tfidf_char"
    at.text_input(key="pd_alphas").set_value("0, 0.1")
    at.button(key="pd_run").click().run()
    no_traceback(at)
    table = at.dataframe[0].value
    assert table["measured_success_all"].iloc[-1] > 0.9 > table["measured_success_all"].iloc[0]
    at.text_input(key="pd_token").set_value("")
    at.button(key="pd_run").click().run()
    assert "signal: give a trigger token" in errors(at)[0]
