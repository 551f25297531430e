"""Critical mass (smallest α from which success stays >= 90%) of each curve of a Hardt sweep.

Usage: python examples/hardt_text_report.py results/hardt_text/results.csv [threshold]
"""

from __future__ import annotations

import sys

import pandas as pd

from acakit.firms.text import critical_mass

PAPER = "Hardt et al. 2023 (resumes, DistilBERT): feature-label < 0.5%; feature-only ~10% of target"


def main(path: str, threshold: float = 0.9) -> pd.DataFrame:
    results = pd.read_csv(path)
    table = critical_mass(results, threshold=threshold)
    table["critical_alpha_%"] = 100 * table["critical_alpha"]
    print(table.to_string(index=False))
    print(PAPER)
    return table


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.9)
