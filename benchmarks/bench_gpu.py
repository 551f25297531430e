"""Transformer firms on a GPU: Hardt et al.'s text experiment with every layer fine-tuned.

Where torch sees no CUDA device this prints one line, ``device=none``, and exits 0.

Where it sees one, in one run:

1. **Steps**: the same training steps of the full MiniLM fine-tune (batch 32 of BBC News
   articles, 128 tokens, AdamW) timed on the GPU (bf16 autocast, as ``precision: auto``) and on
   this machine's CPU cores (fp32, every core); ``gpu_vs_cpu`` is the ratio of the seconds a
   step (median of the timed steps, after warm-up steps).
2. **The sweep** ``examples/hardt_text_gpu.yaml`` (6 sizes x 3 seeds, ``device: auto``) through
   :func:`acakit.engine.execute` with a fresh store and cache: the fit seconds of every cell
   (mean and max), the device each cell recorded, and the success table (mean over the 3 seeds,
   with the 95% t-interval over seeds).
3. The issue's acceptance figures as ``check ... ok|FAIL`` lines: mean success >= 0.8 at
   α = 0.5% and >= 0.95 at 1%, at most 5 s of fitting per cell, GPU vs CPU >= 30x.

``--out FILE`` also writes every figure as JSON. ``benchmarks/gpu_check.sh`` runs this on a GPU
machine that reaches no registry (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "hardt_text_gpu.yaml"


def step_seconds(device: str, precision: str, n_warm: int, n_timed: int) -> float:
    """Median seconds of one training step of the full fine-tune on ``device``."""
    import numpy as np
    import torch

    from acakit.data import load, train_test_split
    from acakit.firms.device import autocast
    from acakit.firms.finetune import (
        MiniLMFinetuneClassifier,
        _pad_ids,
        _pooled_head,
        encoder_folder,
        get_token_cache,
        load_encoder,
    )

    train, _ = train_test_split(load("bbc_news"), test_size=0.3, seed=0)
    texts = [str(t) for t in train.X[:32]]
    y = torch.from_numpy(np.asarray(train.y[:32], dtype=np.int64) % 5).to(device)
    folder = encoder_folder(None)
    tokenizer, model = load_encoder(folder)
    ids, mask = _pad_ids(get_token_cache(folder, 128).get(texts), tokenizer.pad_token_id, torch)
    ids, mask = ids.to(device), mask.to(device)
    torch.manual_seed(0)
    import copy

    module = _pooled_head(torch, copy.deepcopy(model), int(model.config.hidden_size), 5, True)
    module.requires_grad_(True)
    module.to(device).train()
    clf = MiniLMFinetuneClassifier(lr=5e-5, head_lr=1e-3)
    opt = torch.optim.AdamW([{"params": list(module.layers.parameters()), "lr": clf.lr},
                             {"params": list(module.head.parameters()), "lr": clf.head_lr}])
    times = []
    for i in range(n_warm + n_timed):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with autocast(torch, device, precision):
            logits = module(ids, mask)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= n_warm:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_sweep(jobs: int | None, config: Path = CONFIG, out: Path | None = None) -> dict:
    """``acakit run CONFIG`` on a fresh output folder and cache; fit seconds, devices, success.

    The sweep runs through the command line exactly as a user types it (its table and plot
    are printed and written as usual), then the figures are read back from its ``results.csv``.
    """
    import subprocess

    import pandas as pd

    from acakit.metrics import seed_interval

    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="acakit-bench-gpu-"))
    env = dict(os.environ, ACAKIT_CACHE_DIR=str(out / "cache"), COLUMNS="100")
    cmd = [sys.executable, "-m", "acakit", "run", str(config), "--out", str(out), "--no-cache"]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    print("$ acakit " + " ".join(cmd[3:]), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    wall = time.perf_counter() - t0
    res = pd.read_csv(out / "results.csv")
    fitted = res[res["n_members"] > 0]
    table = []
    for alpha, g in res.groupby("alpha_requested"):
        s = g["success"].to_numpy(dtype=float)
        m, lo, hi = seed_interval(s)
        table.append({"alpha": float(alpha), "members": float(g["n_members"].mean()),
                      "success": float(m), "lo": max(0.0, float(lo)), "hi": min(1.0, float(hi)),
                      "accuracy": float(g["accuracy"].mean()), "seeds": int(len(g))})
    return {"wall_s": wall, "cells": int(len(res)), "devices": sorted(set(res["device"])),
            "fit_s_mean": float(fitted["fit_seconds"].mean()),
            "fit_s_max": float(fitted["fit_seconds"].max()), "table": table, "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=None, help="workers of the sweep (default: all)")
    ap.add_argument("--cpu-steps", type=int, default=3, help="timed CPU steps (after 1 warm-up)")
    ap.add_argument("--gpu-steps", type=int, default=30, help="timed GPU steps (after 5 warm-up)")
    ap.add_argument("--skip-sweep", action="store_true", help="only the steps (a quick check)")
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--config", type=Path, default=CONFIG, help="the sweep (default: %(default)s)")
    ap.add_argument("--sweep-dir", type=Path, default=None,
                    help="the sweep's output folder (default: a new temporary folder)")
    ap.add_argument("--cpu-device", action="store_true",
                    help="time the steps on the CPU only and run the sweep anyway: a dry run of "
                         "this script on a machine without CUDA (no checks are made)")
    a = ap.parse_args(argv)

    from acakit.firms.device import cuda_device_count

    if cuda_device_count() == 0 and not a.cpu_device:
        print("device=none")
        return 0
    import torch

    dry = cuda_device_count() == 0
    name = "cpu (dry run)" if dry else torch.cuda.get_device_name(0)
    cores = os.cpu_count() or 1
    print(f"device={'cpu' if dry else 'cuda:0'} name={name!r} cpu_cores={cores} "
          f"torch={torch.__version__}", flush=True)
    gpu = step_seconds("cpu" if dry else "cuda:0", "fp32" if dry else "bf16",
                       1 if dry else 5, 1 if dry else a.gpu_steps)
    torch.set_num_threads(cores)
    cpu = step_seconds("cpu", "fp32", 1, a.cpu_steps)
    ratio = cpu / gpu
    print(f"steps: gpu_s={gpu:.4f} (bf16) cpu_s={cpu:.3f} (fp32, {cores} threads) "
          f"gpu_vs_cpu={ratio:.1f}", flush=True)
    figures: dict = {"device": name, "cpu_cores": cores, "gpu_step_s": gpu, "cpu_step_s": cpu,
                     "gpu_vs_cpu": ratio}
    checks = [("gpu_vs_cpu >= 30", ratio >= 30)]
    if not a.skip_sweep:
        sw = run_sweep(a.jobs, a.config, a.sweep_dir)
        figures["sweep"] = sw
        print(f"sweep: {sw['cells']} cells in {sw['wall_s']:.1f} s, devices={sw['devices']}, "
              f"fit seconds per cell mean={sw['fit_s_mean']:.2f} max={sw['fit_s_max']:.2f}")
        print(f"{'alpha (%)':>9} {'members':>8} {'success':>8} {'95% t over seeds':>17} "
              f"{'accuracy':>8}")
        for r in sw["table"]:
            print(f"{100 * r['alpha']:>9.2f} {r['members']:>8.1f} {r['success']:>8.3f} "
                  f"{r['lo']:>8.3f}-{r['hi']:<8.3f} {r['accuracy']:>8.3f}")
        by = {round(r["alpha"], 6): r["success"] for r in sw["table"]}
        checks += [("success >= 0.8 at 0.5%", by.get(0.005, 0.0) >= 0.8),
                   ("success >= 0.95 at 1%", by.get(0.01, 0.0) >= 0.95),
                   ("fit <= 5 s per cell", sw["fit_s_max"] <= 5.0)]
    if dry:
        checks = []
    for what, ok in checks:
        print(f"check {what}: {'ok' if ok else 'FAIL'}")
    figures["checks"] = {w: bool(ok) for w, ok in checks}
    if a.out is not None:
        a.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
