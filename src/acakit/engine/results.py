"""What a run leaves for the layers above: the store's meta keys and the results table.

Kept apart from :mod:`acakit.engine` itself so that the engine's modules (the kinds, the store's
owner checks) use them without importing the package that imports them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: Store meta keys under which a run leaves its kind and its validated config.
META_KIND, META_CONFIG = "experiment", "config"


def results_frame(cells: list[Any], rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The results table of ``cells`` (in their order) from ``cell_id -> row``.

    A row holding a ``rows`` list (one sub-row per collective of a multi-collective cell, say)
    becomes one line per sub-row (:func:`acakit.engine.store.expand_rows`).
    """
    from acakit.engine.store import expand_rows

    out, seen = [], set()
    for c in cells:
        cid = c.cell_id
        if cid in rows and cid not in seen:
            seen.add(cid)
            out += expand_rows(rows[cid])
    return pd.DataFrame(out)
