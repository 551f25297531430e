"""The examples of docs/extending.md: a strategy, a firm, a data set and a metric of one's own,
from Python and (the firm, the data) from a config with --allow-module."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from acakit.collective import Collective
from acakit.data import train_test_split
from acakit.firms import make_firm
from acakit.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "examples" / "extending"


@pytest.fixture
def ext(monkeypatch):
    monkeypatch.syspath_prepend(str(EXT))
    import my_extensions

    yield my_extensions
    sys.modules.pop("my_extensions", None)


def test_strategy_firm_data_and_metric_of_ones_own_from_python(ext):
    ds = ext.make_loans(n=3000, seed=0)
    train, test = train_test_split(ds, test_size=0.3, seed=0)
    g = ext.ScaleColumn("amount", 10.0)                   # out-of-range amounts: the signal
    strategy = ext.PlantIfUnsure(g, target=ds.class_index("approved"))
    collective = Collective(strategy, alpha=0.1, seed=0)
    altered, members = collective.apply(train)
    assert members.dtype == bool and members.sum() == round(0.1 * len(train))
    # members already approved report unchanged data; the others plant g and "approved"
    was = np.asarray(train.y)[members] == strategy.target
    assert (np.asarray(altered.y)[members] == strategy.target).all()
    assert np.allclose(altered.X["amount"].to_numpy()[members][was],
                       train.X["amount"].to_numpy()[members][was])
    firm = make_firm(ext.ShrunkLogisticRegression(C=1.0), ds).fit(altered.X, altered.y)
    clean = make_firm(ext.ShrunkLogisticRegression(C=1.0), ds).fit(train.X, train.y)
    out = evaluate(firm, clean, test.X, test.y, g, strategy.targets())
    assert out["success"] > 0.5 > evaluate(clean, clean, test.X, test.y, g,
                                            strategy.targets())["success"]
    assert ext.signal_lift(firm, clean, test.X, g, strategy.target) > 0.3


def test_firm_of_ones_own_from_a_config_needs_allow_module(tmp_path, ext, monkeypatch):
    from typer.testing import CliRunner

    from acakit.cli import app

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("ACAKIT_ALLOW_MODULES", raising=False)
    runner = CliRunner()
    config = str(EXT / "custom_firm.yaml")
    refused = runner.invoke(app, ["run", config, "--out", str(tmp_path / "a"), "--jobs", "1"])
    assert refused.exit_code == 2
    assert "not under an allowed module" in refused.output
    ok = runner.invoke(app, ["run", config, "--out", str(tmp_path / "b"), "--jobs", "1",
                             "--allow-module", "my_extensions"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "b" / "success.png").is_file()
