"""A store belongs to one experiment: a run of another config into it is refused before any
work and leaves it byte for byte as it was; --extend adds cells without taking it over; the
store's lock file is never followed through a link."""

from __future__ import annotations

import hashlib

import pytest

from acakit.analyses import report
from acakit.engine import execute, load_run
from acakit.engine.store import ForeignStoreError, StoreError
from cli_runner import run_cli

SINGLE = {
    "name": "owner",
    "dataset": {"name": "product_ratings", "params": {"n_samples": 500, "n_features": 4}},
    "collective": {"strategy": "plant", "target": 1,
                   "signal": {"type": "set_columns", "values": {"f0": 0, "f1": 0}}},
    "sweep": {"alpha": [0.0, 0.05], "seed": [0]},
}
OTHER = SINGLE | {"sweep": {"alpha": [0.1], "seed": [0]}}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def store(tmp_path):
    execute(SINGLE, out_dir=tmp_path, store=True, progress=False, cache=False)
    return tmp_path / "results.sqlite"


def test_a_run_of_another_config_is_refused_and_the_store_is_unchanged(store, tmp_path):
    before = _sha(store)
    with pytest.raises(ForeignStoreError, match="belongs to another experiment .*--extend"):
        execute(OTHER, out_dir=tmp_path, store=store, progress=False, cache=False)
    assert _sha(store) == before
    from pathlib import Path

    fair = Path(__file__).resolve().parents[1] / "examples" / "fairness_toy.yaml"
    r = run_cli("run", str(fair), "--store", str(store), "-o", str(tmp_path / "f"), "-j", "1",
                "-q")
    assert r.exit_code == 2 and "belongs to another experiment (kind collective" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _sha(store) == before


def test_extend_adds_cells_and_keeps_the_first_experiment_redrawable(store, tmp_path):
    first = report(store, tmp_path / "a").summary
    run = execute(OTHER, out_dir=tmp_path, store=store, progress=False, cache=False, extend=True)
    assert run.info.n_run == 1
    again = report(store, tmp_path / "b").summary
    assert first.equals(again)  # the store's own config is what report redraws
    assert load_run(store).config.sweep.alpha == [0.0, 0.05]
    with pytest.raises(StoreError):  # still foreign without --extend
        execute(OTHER, out_dir=tmp_path, store=store, progress=False, cache=False)


def test_the_lock_file_is_not_followed_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    store = tmp_path / "out" / "results.sqlite"
    store.parent.mkdir()
    (store.parent / "results.sqlite.lock").symlink_to(victim)
    with pytest.raises(StoreError, match="is a symbolic link"):
        execute(SINGLE, out_dir=tmp_path / "out", store=store, progress=False, cache=False)
    assert victim.read_text() == "keep me"


def test_a_fifo_or_link_in_the_cache_is_skipped_not_read(tmp_path, caplog):
    import os
    import signal

    cache = tmp_path / "cache"
    execute(SINGLE, out_dir=tmp_path / "a", progress=False, cache=str(cache))
    entries = [p for p in cache.rglob("*.pkl")]
    assert entries
    victim = tmp_path / "victim.pkl"
    victim.write_bytes(b"not a cache entry")
    entries[0].unlink()
    os.mkfifo(entries[0])  # a read of it would block forever
    if len(entries) > 1:
        entries[1].unlink()
        entries[1].symlink_to(victim)
    signal.alarm(120)  # a hang fails the test instead of the suite
    try:
        run = execute(SINGLE, out_dir=tmp_path / "b", progress=False, cache=str(cache))
    finally:
        signal.alarm(0)
    assert len(run.results) == 2
    assert "not a regular file" in caplog.text
    assert victim.read_bytes() == b"not a cache entry"


def test_a_short_cache_key_turns_the_cache_off_with_a_warning(tmp_path, monkeypatch, caplog):
    from acakit.engine import cache as cache_mod

    conf = tmp_path / "conf"
    conf.mkdir(mode=0o700)
    (conf / "cache.key").write_bytes(b"short")
    (conf / "cache.key").chmod(0o600)
    monkeypatch.setenv("ACAKIT_CONFIG_DIR", str(conf))
    assert cache_mod.load_key() is None
    assert "shorter than 32; cache off for this run" in caplog.text


def test_a_refused_run_leaves_the_store_and_its_lock_as_they_were(store, tmp_path):
    lock = store.with_name(store.name + ".lock")
    lock.write_text("pid 1 on elsewhere")  # what an earlier run left
    before = (_sha(store), lock.read_bytes())
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(SINGLE))
    r = run_cli("run", str(cfg), "--store", str(store), "-o", str(tmp_path), "--address",
                "127.0.0.1:1", "--connect-timeout", "1")
    assert r.exit_code == 2 and "--address" in r.stderr, r.stderr
    assert (_sha(store), lock.read_bytes()) == before
