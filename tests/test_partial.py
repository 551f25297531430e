"""A store that holds part of its grid says so: report refuses it (one line, how to finish),
draws it marked "partial" on request, and the game refuses a grid missing a strategy pair."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from acakit.analyses import report
from acakit.analyses import style as figure_style
from acakit.analyses.game import analyze_game
from acakit.engine import PartialRunError, execute, load_run
from cli_runner import run_cli as _cli

GAME = {
    "name": "tiny game",
    "dataset": {"name": "product_ratings", "params": {"n_samples": 600, "n_features": 4}},
    "firm": {"name": "logistic_regression"},
    "collective": {"strategy": "plant", "target": 1,
                   "signal": {"type": "set_columns", "values": {"f3": 9}}},
    "sweep": {"alpha": [0.0, 0.03], "seed": [0, 1],
              "grid": {"firm.defense": [{"name": "none"},
                                        {"name": "isolation_forest",
                                         "params": {"contamination": 0.05}}],
                       "collective": [{"camouflage": 0.0}, {"camouflage": 1.0}]}},
    "game": {"price_success": 0.5, "alpha": 0.03},
}




@pytest.fixture(scope="module")
def stopped_store(tmp_path_factory):
    """The 16-cell game run, then 6 of its isolation-forest cells removed (a sweep stopped)."""
    out = tmp_path_factory.mktemp("game")
    execute(GAME, out_dir=out, store=True, progress=False, cache=False)
    store = out / "results.sqlite"
    db = sqlite3.connect(store)
    with db:
        ids = [r[0] for r in db.execute(
            "SELECT cell_id FROM cells WHERE variant LIKE '%isolation_forest%' ORDER BY cell_id")]
        db.executemany("DELETE FROM cells WHERE cell_id = ?", [(i,) for i in ids[:6]])
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # into the main file: the tests copy it
    db.close()
    return store


def test_load_run_says_how_complete_the_table_is(stopped_store):
    run = load_run(stopped_store)
    c = run.info.completeness
    assert (c.expected, c.ok, c.failed, c.missing) == (16, 10, 0, 6)
    assert run.info.partial == "partial: 10 of 16 cells"
    assert all("isolation_forest" in v for v in c.missing_by_variant)


def test_report_refuses_a_partial_store_in_one_line_naming_how_to_finish(stopped_store):
    with pytest.raises(PartialRunError) as e:
        report(stopped_store)
    msg = str(e.value)
    assert "partial: 10 of 16 cells (6 missing)" in msg and "\n" not in msg
    assert f"acakit results {stopped_store} --config" in msg and "--allow-partial" in msg
    r = _cli("report", str(stopped_store))
    assert r.exit_code != 0
    assert r.stderr.strip().startswith("error: report: partial: 10 of 16 cells")
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_game_refuses_a_grid_missing_a_strategy_pair(stopped_store, tmp_path):
    run = load_run(stopped_store)
    with pytest.raises(ValueError, match=r"game: partial: .* \(defense, answer\) pairs"):
        analyze_game(run.results, run.config.sweep.grid, tmp_path, plot=False)


def test_allow_partial_marks_every_figure_and_the_summary(stopped_store, tmp_path, monkeypatch):
    seen: list[tuple[str, bool]] = []

    def record(fig, where):
        texts = [t.get_text() for t in fig.texts]
        seen.append((str(where), any("partial: 10 of 16 cells" in t for t in texts)))

    monkeypatch.setattr(figure_style, "FIGURE_CHECKS", [*figure_style.FIGURE_CHECKS, record])
    r = _cli(*["report", str(stopped_store), "--allow-partial", "-o",
                                 str(tmp_path)])
    assert r.exit_code == 0, r.stderr
    assert "partial: 10 of 16 cells (6 missing)" in r.stdout
    assert len(seen) >= 3 and all(marked for _, marked in seen), seen


def test_the_stored_config_finishes_the_run(stopped_store, tmp_path):
    store = tmp_path / "copy.sqlite"
    store.write_bytes(stopped_store.read_bytes())
    cfg = tmp_path / "cfg.yaml"
    r = _cli(*["results", str(store), "--config", str(cfg)])
    assert r.exit_code == 0, r.stderr
    assert yaml.safe_load(cfg.read_text())["experiment"] == "collective"
    run = execute(cfg, out_dir=tmp_path, store=store, progress=False, cache=False)
    assert (run.info.n_run, run.info.n_cached) == (6, 10)
    assert not load_run(store).info.partial
    report(store, tmp_path)  # complete: no refusal


def test_a_store_keeps_the_manifest_of_each_run(tmp_path):
    from importlib import metadata

    from acakit.engine.manifest import LIBRARIES

    data = tmp_path / "d.csv"
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(120))
    data.write_text("a,b,y\n" + rows + "\n")
    cfg = {"dataset": {"name": "csv", "params": {"path": str(data), "label": "y"}},
           "collective": {"strategy": "plant", "target": "1",
                          "signal": {"type": "set_columns", "values": {"a": 6}}},
           "sweep": {"alpha": [0.0, 0.1]}}
    store = tmp_path / "s.sqlite"
    execute(cfg, out_dir=tmp_path, store=store, progress=False, cache=False)
    r = _cli("results", str(store), "--manifest", "--export", str(tmp_path / "all.csv"))
    assert r.exit_code == 0, r.stderr
    assert "git_commit" in (tmp_path / "all.csv.manifest.json").read_text()
    out = r.stdout
    for name in LIBRARIES:
        try:
            v = metadata.version(name)
        except metadata.PackageNotFoundError:
            assert f"{name}: not installed" in out
        else:
            assert f"{name} {v}" in out, name
    first = out.split("sha256 ")[1].split()[0]
    # one byte changed in the data: a new run into a new store hashes it differently
    data.write_text(data.read_text().replace("0,0,0", "0,0,1", 1))
    store2 = tmp_path / "s2.sqlite"
    execute(cfg, out_dir=tmp_path, store=store2, progress=False, cache=False)
    second = _cli("results", str(store2), "--manifest").stdout.split("sha256 ")[1].split()[0]
    assert len(first) == 64 and first != second
    # a rerun that runs nothing adds no manifest; an extended run adds one
    execute(cfg, out_dir=tmp_path, store=store, progress=False, cache=False)
    assert _cli("results", str(store), "--manifest").stdout.count("run 1 of 1") == 1
