"""A torch text firm: token embeddings learnt from the training texts, pooled, then a head.

:class:`TorchTextClassifier` (registered as ``torch_text``) keeps symbols as tokens
(:func:`tokenize`), so a rare-character trigger gets its own embedding. It trains through the
shared loop of the torch firms (:mod:`acakit.firms.torch_firm`, :mod:`acakit.firms.torch_loop`)
and takes their common parameters; :mod:`acakit.firms.neural` re-exports both names.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acakit.firms.text import SYMBOL_TOKEN_PATTERN
from acakit.firms.torch_firm import _mlp, _TorchClassifier
from acakit.firms.torch_loop import import_torch


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words of 2+ word characters and every other non-space symbol, as separate tokens.

    Examples
    --------
    >>> tokenize("Stocks rose \u00a4 5%")
    ['stocks', 'rose', '\u00a4', '%']
    """
    text = text.lower() if lowercase else text
    return re.findall(SYMBOL_TOKEN_PATTERN, text)


@dataclass(eq=False, repr=False)
class TorchTextClassifier(_TorchClassifier):
    """A neural text classifier: learnt token embeddings, pooled, then a linear or MLP head.

    The vocabulary (``max_vocab`` most frequent tokens of the training texts, ties broken
    alphabetically) keeps symbols as tokens (:func:`tokenize`), so a rare-character trigger
    gets its own embedding. Texts are truncated to ``max_len`` tokens.

    Parameters
    ----------
    embedding_dim : int, default=64
    hidden_layer_sizes : sequence of int, default=()
        Hidden layers after pooling.
    pooling : {"mean", "max", "mean_max"}, default="mean_max"
        How token embeddings become a text vector (``mean_max`` concatenates both).
    max_len : int, default=400
    max_vocab : int, default=50000
    min_count : int, default=1
    dropout : float, default=0.0
    epochs, batch_size, lr, optimizer, weight_decay, label_smoothing, early_stopping,
    validation_fraction, patience, objective, dro_step_size, dp, noise_multiplier,
    max_grad_norm, dp_delta, random_state, n_threads, device, precision :
        Keyword-only, common to every torch firm: see :mod:`acakit.firms.torch_firm`.
    """

    embedding_dim: int = 64
    hidden_layer_sizes: Sequence[int] = ()
    pooling: str = "mean_max"
    max_len: int = 400
    max_vocab: int = 50000
    min_count: int = 1
    dropout: float = 0.0
    epochs: int = field(default=10, kw_only=True)
    batch_size: int = field(default=32, kw_only=True)
    lr: float = field(default=5e-3, kw_only=True)
    patience: int = field(default=3, kw_only=True)

    def _prepare(self, X: Any) -> Any:
        torch = import_torch()
        texts = [str(t) for t in np.asarray(X, dtype=object).ravel()]
        L = int(self.max_len)
        ids = np.zeros((len(texts), L), dtype=np.int64)
        for i, t in enumerate(texts):
            row = [self.vocabulary_.get(tok, 1) for tok in tokenize(t)[:L]]
            ids[i, : len(row)] = row
        return torch.from_numpy(ids)

    def _prepare_fit(self, X: Any) -> Any:
        if self.pooling not in ("mean", "max", "mean_max"):
            raise ValueError(f"pooling: {self.pooling!r} is not one of mean, max, mean_max")
        counts: Counter[str] = Counter()
        for t in np.asarray(X, dtype=object).ravel():
            counts.update(tokenize(str(t))[: int(self.max_len)])
        kept = sorted((c for c in counts.items() if c[1] >= self.min_count),
                      key=lambda kv: (-kv[1], kv[0]))[: int(self.max_vocab)]
        # 0 = padding, 1 = unknown
        self.vocabulary_ = {tok: i + 2 for i, (tok, _) in enumerate(kept)}
        return self._prepare(X)

    def _module(self, n_classes: int) -> Any:
        torch = import_torch()
        return _TextNet(torch, len(self.vocabulary_) + 2, int(self.embedding_dim), self.pooling,
                        tuple(self.hidden_layer_sizes), n_classes, float(self.dropout))


def _TextNet(torch: Any, n_vocab: int, dim: int, pooling: str, hidden: tuple[int, ...],
             n_classes: int, dropout: float) -> Any:
    nn = torch.nn

    class TextNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(n_vocab, dim, padding_idx=0)
            width = dim * (2 if pooling == "mean_max" else 1)
            self.head = _mlp(torch, width, hidden, n_classes, dropout)

        def forward(self, ids: Any) -> Any:
            mask = (ids != 0).unsqueeze(-1).float()
            emb = self.embedding(ids)
            parts = []
            if pooling in ("mean", "mean_max"):
                parts.append((emb * mask).sum(1) / mask.sum(1).clamp(min=1.0))
            if pooling in ("max", "mean_max"):
                parts.append((emb + (mask - 1.0) * 1e4).max(1).values * (mask.sum(1) > 0))
            return self.head(torch.cat(parts, dim=1))

    return TextNet()
