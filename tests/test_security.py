"""The trust model (SECURITY.md): configs cannot run code, the cache cannot be poisoned, config
files cannot exhaust the machine, user text is printed as text."""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from acakit.analyses import run_experiment
from acakit.engine import cache as cache_mod
from acakit.engine.config import ConfigError, read_config
from acakit.engine.single import context_key

RATINGS = {"name": "product_ratings", "params": {"n_samples": 1500, "n_features": 4}}


def single(firm: dict, **over) -> dict:
    return {"name": "sec", "dataset": RATINGS, "firm": firm,
            "collective": {"strategy": "plant", "target": "rating_1",
                           "signal": {"type": "set_columns", "values": {"f3": 9}}},
            "sweep": {"alpha": [0.0, 0.05], "seed": [0]}, "output": {"plot": False}} | over


def acakit(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "acakit", *args], capture_output=True, text=True,
                          env=os.environ | (env or {}), cwd=cwd, timeout=300)


# ----------------------------------------------------------------------------- code execution
@pytest.mark.parametrize("name", ["os.system", "subprocess.Popen", "builtins.eval", "shutil.rmtree",
                                  "posix.system", "importlib.import_module"])
def test_a_config_cannot_name_a_callable_outside_the_allowed_modules(name, tmp_path):
    marker = tmp_path / "pwned"
    cfg = single({"name": name, "params": {"command": f"touch {marker}", "args": [f"touch {marker}"],
                                           "shell": True}})
    with pytest.raises(ConfigError, match=rf"firm.name: '{name}' is not under an allowed module"):
        run_experiment(cfg, out_dir=tmp_path / "out", progress=False)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_validating_a_config_imports_nothing_it_names(tmp_path):
    """A module with a side effect on import is never imported: the name is refused first."""
    marker = tmp_path / "imported"
    (tmp_path / "evilmod.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Model: pass\n")
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(single({"name": "evilmod.Model"})))
    r = acakit("run", str(p), "-o", str(tmp_path / "out"), env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "'evilmod.Model' is not under an allowed module" in r.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_an_allowed_module_must_still_name_an_estimator_class():
    for name, msg in [("sklearn.utils.check_array", "is not an estimator class"),
                      ("sklearn.linear_model.LinearRegression", "is a regressor, not a classifier"),
                      ("sklearn.cluster.KMeans", "is a clusterer, not a classifier"),
                      ("sklearn.base.BaseEstimator", "is not an estimator class")]:
        with pytest.raises(ConfigError, match=msg):
            run_experiment(single({"name": name}), out_dir="/nonexistent-never-written", progress=False)


def test_allow_module_lets_a_users_own_estimator_in(tmp_path):
    (tmp_path / "myfirms.py").write_text(textwrap.dedent("""
        from sklearn.linear_model import LogisticRegression

        class Mine(LogisticRegression):
            pass
    """))
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(single({"name": "myfirms.Mine"})))
    env = {"PYTHONPATH": str(tmp_path), "ACAKIT_CACHE_DIR": str(tmp_path / "cache")}
    refused = acakit("run", str(p), "-o", str(tmp_path / "o1"), "-j", "1", env=env)
    assert refused.returncode == 2 and "--allow-module" in refused.stderr
    ok = acakit("run", str(p), "-o", str(tmp_path / "o2"), "-j", "2", "--allow-module", "myfirms",
                env=env)
    assert ok.returncode == 0, ok.stderr
    assert "2 cells: 2 run now" in ok.stdout
    bad = acakit("run", str(p), "--allow-module", "my-firms;rm", env=env)
    assert bad.returncode == 2 and "--allow-module: 'my-firms;rm' is not a module name" in bad.stderr


# ----------------------------------------------------------------------------- the cache
class _Boom:
    """Unpickling this writes a file: what a crafted cache entry would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "pwned"))


def _clean_firm_file(tmp_path: Path) -> tuple[Path, dict]:
    """Run the sweep once; return the clean firm's cache file of seed 0 and the results."""
    res = run_experiment(single({"name": "empirical_bayes"}), out_dir=tmp_path / "o", progress=False,
                         cache=str(tmp_path / "cache"))
    cache = cache_mod.get_cache()
    from acakit.engine.config import expand, parse_config

    cell = expand(parse_config(single({"name": "empirical_bayes"})))[0]
    path = cache.path("clean_firm", cache.key([context_key(cell)]))
    assert path.is_file()
    return path, res.results[["cell_id", "success", "accuracy"]].to_dict("records")


def test_a_crafted_cache_file_is_never_unpickled(tmp_path, caplog):
    path, before = _clean_firm_file(tmp_path)
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(_Boom(str(marker))))  # plain pickle, no valid MAC
    cache_mod.configure(tmp_path / "other", True)  # a new Cache object: nothing in memory
    res = run_experiment(single({"name": "empirical_bayes"}), out_dir=tmp_path / "o2", progress=False,
                         cache=str(tmp_path / "cache"))
    assert not marker.exists()
    assert "failed verification" in caplog.text and cache_mod.get_cache().rejected >= 1
    assert res.results[["cell_id", "success", "accuracy"]].to_dict("records") == before


def test_a_cache_file_with_a_forged_header_or_moved_from_another_entry_is_refused(tmp_path):
    path, _ = _clean_firm_file(tmp_path)
    cache = cache_mod.Cache(tmp_path / "cache")
    good = path.read_bytes()
    # the same valid file under another key: its MAC names the key it was written for
    cache.put("clean_firm", "f" * 64, "placeholder")
    other = cache.path("clean_firm", "f" * 64)
    other.write_bytes(good)
    assert cache.get("clean_firm", "f" * 64, default="miss") == "miss"
    # a flipped payload byte
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert cache.get("clean_firm", path.stem, default="miss") == "miss"
    assert cache.rejected == 2


def test_a_key_file_open_to_others_turns_the_cache_off(tmp_path, caplog):
    root = tmp_path / "cache"
    cache = cache_mod.Cache(root)
    cache.put("x", "k" * 64, 1)
    key = cache_mod.key_path()
    assert root not in key.parents  # the key is not in the folder it protects
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    try:
        key.chmod(0o644)
        again = cache_mod.Cache(root)
        assert again.get("x", "k" * 64, default="miss") == "miss" and not again.enabled
        assert "open to other users" in caplog.text
    finally:
        key.chmod(0o600)


def test_the_default_cache_is_not_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(cache_mod.CACHE_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert tmp_path not in cache_mod.default_cache_dir().parents
    assert cache_mod.default_cache_dir() != tmp_path / ".acakit-cache"


# ----------------------------------------------------------------------------- config files
def _write(tmp_path: Path, text: str | bytes, name: str = "cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = "\n".join(lines) + "\nfirm: {name: logistic_regression, params: {C: *a8}}\n"
    assert len(bomb) < 1000  # would expand to 10^9 strings
    with pytest.raises(ConfigError, match=r"expands to more than 100,000 values through YAML aliases"):
        read_config(_write(tmp_path, bomb))


def test_a_few_aliases_are_fine(tmp_path):
    text = "sig: &sig {type: set_columns, values: {f0: 0}}\ncollective: {signal: *sig}\n"
    assert read_config(_write(tmp_path, text))["collective"]["signal"]["values"] == {"f0": 0}


@pytest.mark.parametrize("text,msg", [
    ("name: a\nname: b\n", "key 'name' is given twice"),
    ("dataset: {name: adult, name: compas}\n", "key 'name' is given twice"),
    (b"name: caf\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 9\)"),
    ("- just\n- a list\n", "must hold a mapping at the top level"),
    ("name: [unclosed\n", "is not valid YAML"),
])
def test_config_files_that_would_surprise_are_refused_in_one_line(tmp_path, text, msg):
    with pytest.raises(ConfigError, match=msg):
        read_config(_write(tmp_path, text))


def test_an_oversized_config_is_refused_unread(tmp_path):
    from acakit.engine.config import MAX_CONFIG_BYTES

    p = _write(tmp_path, "name: x\n" + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match="a config may have at most"):
        read_config(p)


def test_boolean_targets_and_double_size_sweeps_are_refused():
    with pytest.raises(ConfigError, match="collective.target: True is a boolean, not a class"):
        run_experiment(single({"name": "empirical_bayes"},
                              collective={"strategy": "plant", "target": True,
                                          "signal": {"type": "set_columns", "values": {"f3": 9}}}),
                       progress=False)
    cfg = single({"name": "empirical_bayes"})
    cfg["sweep"]["grid"] = {"collective.alpha": [0.1, 0.2]}
    with pytest.raises(ConfigError, match="sweep.grid.collective.alpha: the size is swept by sweep.alpha"):
        run_experiment(cfg, progress=False)


# ----------------------------------------------------------------------------- printing
def test_user_text_in_an_error_is_printed_as_text_not_markup(tmp_path):
    p = _write(tmp_path, yaml.safe_dump(single({"name": "empirical_bayes"}) | {
        "collective": {"strategy": "plant", "target": "[/b][red]",
                       "signal": {"type": "set_columns", "values": {"f3": 9}}}}))
    r = acakit("run", str(p), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "MarkupError" not in r.stderr
    assert "[/b][red]" in r.stderr


def test_a_class_named_like_markup_goes_through_the_audit(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"a": rng.integers(0, 3, n).astype(str), "b": rng.normal(size=n)})
    df["y"] = np.where(rng.random(n) < 0.3, "[/b]", "[app]")
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    r = acakit("audit", "--data", str(data), "--label", "y", "--firm", "logistic_regression",
               "--alphas", "0,0.02", "--seeds", "1", "-j", "1", "-q", "-o", str(tmp_path / "a.html"),
               env={"ACAKIT_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "MarkupError" not in r.stderr and (tmp_path / "a.html").is_file()


def test_a_copied_cache_folder_with_its_own_key_is_not_trusted(tmp_path, monkeypatch, caplog):
    """The key lives in the user's config folder, not in the cache: a cache folder (with a key
    file) from someone else fails verification and is computed again."""
    theirs = tmp_path / "their-config"
    monkeypatch.setenv(cache_mod.CONFIG_DIR_ENV, str(theirs))
    root = tmp_path / "their-cache"
    marker = tmp_path / "pwned"
    cache_mod.Cache(root).put("x", "k" * 64, _Boom(str(marker)))  # signed with their key
    (root / ".key").write_bytes(cache_mod.key_path().read_bytes())  # shipped with the folder
    monkeypatch.setenv(cache_mod.CONFIG_DIR_ENV, str(tmp_path / "my-config"))
    mine = cache_mod.Cache(root)
    assert mine.get("x", "k" * 64, default="miss") == "miss"
    assert not marker.exists() and mine.rejected == 1
    assert "failed verification (signed with another key" in caplog.text
    assert cache_mod.key_path().parent == tmp_path / "my-config"
