"""The Hardt et al. text example runs end to end and meets the acceptance criterion."""

from __future__ import annotations

from pathlib import Path

import pytest

from acakit.analyses import run_file
from acakit.firms.text import critical_mass
from example_numbers import assert_example_numbers

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_hardt_text_small_example(tmp_path):
    res = run_file(EXAMPLES / "hardt_text_small.yaml", jobs=2, out_dir=str(tmp_path), progress=False)
    r = res.results
    assert assert_example_numbers("hardt_text_small", r) == len(r)  # recorded before the engine
    cm = critical_mass(r).set_index("variant")["critical_alpha"]
    char = [v for v in cm.index if "tfidf_char" in v][0]
    assert cm[char] <= 0.01  # >= 90% success with at most 1% of the training data
    symbols = [v for v in cm.index if "keep_symbols': True" in v][0]
    assert cm[symbols] <= 0.005  # word TF-IDF keeping the symbol: 8 members suffice (seed 0)
    stripped = r[r["variant"].str.contains("keep_symbols': False")]
    assert stripped["success"].max() < 0.05  # the default word tokenizer drops the trigger
    assert (tmp_path / "success.png").is_file()
