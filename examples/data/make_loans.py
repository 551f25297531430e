"""Make ``loans.csv``: a small synthetic loan-approval table with gaps, for ``user_csv.yaml``.

400 applicants (seed 7), one row each: an id, age, income, loan amount, term, purpose,
employment, housing, ``sex`` (the sensitive column, complete), a free-text note and the label
``approved`` (yes/no). A few cells are left empty on purpose: 12 incomes, 6 ages, 8 purposes,
5 employment statuses and 3 labels, so the CSV loader's ``missing`` policy has something to do.
No real person is in it.

Run from anywhere (it writes next to itself unless given a path)::

    python examples/data/make_loans.py            # examples/data/loans.csv
    python examples/data/make_loans.py out.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

N_ROWS = 400
SEED = 7
GAPS = {"income": 12, "age": 6, "purpose": 8, "employment": 5, "approved": 3}


def make_loans(n: int = N_ROWS, seed: int = SEED) -> pd.DataFrame:
    """The loans table (deterministic for a given ``n`` and ``seed``).

    Parameters
    ----------
    n : int, default=400
        Number of applicants.
    seed : int, default=7
        Seed of the random generator.

    Returns
    -------
    pandas.DataFrame
        One row per applicant; the gaps of :data:`GAPS` are empty (``<NA>``) cells.
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(19, 71, n)
    employment = rng.choice(["employed", "self-employed", "unemployed", "student"], n,
                            p=[0.62, 0.18, 0.08, 0.12])
    base = np.select([employment == "employed", employment == "self-employed", employment == "student"],
                     [42_000, 38_000, 12_000], 9_000)
    income = np.round(base * rng.lognormal(0.0, 0.35, n) + 300 * (age - 19), -2)
    purpose = rng.choice(["car", "home", "education", "business", "other"], n,
                         p=[0.3, 0.25, 0.15, 0.15, 0.15])
    amount = np.round(rng.lognormal(9.0, 0.6, n) * np.where(purpose == "home", 3.0, 1.0), -2)
    term = rng.choice([12, 24, 36, 60], n, p=[0.2, 0.3, 0.3, 0.2])
    housing = rng.choice(["own", "rent", "free"], n, p=[0.45, 0.45, 0.1])
    sex = rng.choice(["female", "male"], n)
    burden = amount / np.maximum(income, 1_000) * 12 / term
    score = (0.3 - 4.0 * burden + 0.015 * (age - 40) + 0.5 * (housing == "own")
             - 0.8 * (employment == "unemployed") + rng.normal(0.0, 0.8, n))
    approved = np.where(score > 0, "yes", "no")
    notes = rng.choice(["", "called twice", "documents late", "existing customer", "referred"], n)
    df = pd.DataFrame({
        "applicant_id": [f"A{i:04d}" for i in range(n)],
        "age": pd.array(age, dtype="Int64"),
        "income": pd.array(income.astype(np.int64), dtype="Int64"),
        "loan_amount": amount.astype(np.int64),
        "term_months": term,
        "purpose": purpose,
        "employment": employment,
        "housing": housing,
        "sex": sex,
        "notes": notes,
        "approved": approved,
    })
    for col, k in GAPS.items():
        rows = rng.choice(n, k, replace=False)
        df[col] = df[col].astype("Int64" if col in ("age", "income") else object)
        df.loc[rows, col] = pd.NA
    return df


def main(argv: list[str]) -> Path:
    """Write the table to ``argv[0]`` (default: ``loans.csv`` next to this script)."""
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent / "loans.csv"
    make_loans().to_csv(out, index=False, lineterminator="\n")
    return out


if __name__ == "__main__":
    print(main(sys.argv[1:]))
