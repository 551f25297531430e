"""The torch firms on a real CUDA device (skipped where torch sees none, as on CI).

Run on a GPU machine: ``pytest tests/test_gpu.py tests/test_device.py``. The CPU side of the same
behaviour (resolution, refusal, scheduling rule, pickling) is in ``tests/test_device.py``.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from acakit.firms.device import cuda_device_count, fitted_device
from test_device import _tiny_bert, run_tiny_bert

pytestmark = pytest.mark.skipif(cuda_device_count() == 0, reason="needs a CUDA device")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return _tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def test_torch_mlp_trains_on_cuda_in_bf16_and_pickles_cpu_weights():
    import torch

    from acakit.firms.neural import TorchMLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    firm = TorchMLPClassifier(epochs=30, device="auto").fit(X, y)
    assert firm.device_ == f"cuda:{torch.cuda.current_device()}" and firm.precision_ == "bf16"
    assert fitted_device(firm).startswith("cuda")
    assert (firm.predict(X) == y).mean() > 0.9
    state = firm.__getstate__()
    assert all(v.device.type == "cpu" for v in state["_module_weights"].values())
    back = pickle.loads(pickle.dumps(firm))
    assert fitted_device(back).startswith("cuda")
    assert np.allclose(back.predict_proba(X), firm.predict_proba(X), atol=1e-3)
    firm_fp32 = TorchMLPClassifier(epochs=30, device="cuda", precision="fp32").fit(X, y)
    assert firm_fp32.precision_ == "fp32" and (firm_fp32.predict(X) == y).mean() > 0.9


def test_tiny_bert_full_finetune_on_cuda_through_acakit_run(tmp_path, bert):
    res, stored = run_tiny_bert(tmp_path, bert, "auto", (0.0, 0.1, 0.2),
                                "-j", "2", "--cells-per-gpu", "1")
    assert len(res) == 3 and all(d.startswith("cuda") for d in res["device"])
    assert (res["accuracy"] >= 0.9).all()
    assert all(d.startswith("cuda") for d in stored["device"])


def test_loky_shares_the_gpu_between_at_most_its_slots(tmp_path):
    from acakit.engine.config import expand, parse_config
    from acakit.engine.runners import run_sweep

    cfg = parse_config({
        "dataset": {"name": "product_ratings", "params": {"n_samples": 600, "n_features": 4}},
        "firm": {"name": "torch_mlp", "params": {"epochs": 5, "device": "auto"}},
        "collective": {"signal": {"type": "set_columns", "values": {"f3": 9}},
                       "target": "rating_1"},
        "sweep": {"alpha": [0.0, 0.02, 0.05, 0.1], "seed": [0, 1, 2]}})
    cells = expand(cfg)
    run = run_sweep(cells, jobs=3, progress=False, cache=False, cells_per_gpu=1)
    assert run.n_failed == 0 and len(run.rows) == len(cells)
    assert all(r["device"].startswith("cuda") for r in run.rows.values())
    assert run.gpu["slots"] == 1 and run.gpu["max_gpu_tasks"] == 1, run.gpu
    assert run.gpu["gpu_tasks"] >= 1
