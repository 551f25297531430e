"""The terminal's summary tables as LaTeX (booktabs) and Markdown: same rows and numbers as the
terminal and summary.csv, user text escaped, compiled by pdflatex where it is installed."""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

from acakit.engine import execute
from cli_runner import run_cli as _cli

CFG = {
    "name": "T_1 <script>x</script> & 50%",
    "dataset": {"name": "product_ratings", "params": {"n_samples": 800, "n_features": 4}},
    "firm": {"name": "logistic_regression"},
    "collective": {"strategy": "plant", "target": 1,
                   "signal": {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}},
    "sweep": {"alpha": [0.0, 0.05], "seed": [0, 1]},
}




@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    execute(CFG, out_dir=out, store=True, progress=False)
    r = _cli("report", str(out / "results.sqlite"))  # writes summary.csv beside the store
    assert r.exit_code == 0, r.stderr
    return out / "results.sqlite"


def test_latex_and_markdown_tables_hold_the_terminal_numbers(store, tmp_path):
    tex, md = tmp_path / "t.tex", tmp_path / "t.md"
    r = _cli("results", str(store), "--export", str(tex), "--export", str(md))
    assert r.exit_code == 0, r.stderr
    latex, markdown = tex.read_text(), md.read_text()
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex
    assert "<script>" not in latex and "T\\_1" in latex and "50\\%" in latex and "\\&" in latex
    assert "\\<script\\>" in markdown
    assert "t over 2 seeds" in latex and "t over 2 seeds" in markdown  # how intervals were made
    summary = pd.read_csv(store.parent / "summary.csv")
    for v in summary["success"]:  # every mean, as the terminal prints it (3 decimals)
        assert f"{v:.3f}" in latex and f"{v:.3f}" in markdown
    report = _cli("report", str(store), "--table", str(tmp_path / "r.tex"))
    assert report.exit_code == 0 and (tmp_path / "r.tex").read_text() == latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_latex_table_compiles(store, tmp_path):
    tex = tmp_path / "t.tex"
    assert _cli("results", str(store), "--export", str(tex)).exit_code == 0
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}"
                   f"\\input{{{tex.name}}}\\end{{document}}\n")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
