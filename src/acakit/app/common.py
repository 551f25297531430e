"""Pieces every page of the planner app uses: errors as messages, downloads, uploads."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from acakit.app import logic


def setup(title: str, intro: str) -> None:
    """Page title and introduction; the on-disk cache is off in the app (uploads stay in memory
    and in the session's temporary folder)."""
    from acakit.engine.cache import configure

    configure(enabled=False)
    st.title(title)
    st.markdown(intro)


def show_error(err: BaseException) -> None:
    """A readable one-line message instead of a traceback."""
    if isinstance(err, ValueError | KeyError | TypeError):
        st.error(logic.first_line(err), icon="⚠️")
    else:  # something we did not foresee: still a message, with what kind of problem it was
        st.error(f"Something went wrong ({type(err).__name__}): {logic.first_line(err)}", icon="⚠️")


def downloads(table: pd.DataFrame, png: bytes | None, stem: str) -> None:
    """CSV of the numbers and PNG of the plot, side by side."""
    left, right = st.columns(2)
    left.download_button("Download the numbers (CSV)", table.to_csv(index=False).encode(),
                         file_name=f"{stem}.csv", mime="text/csv", key=f"{stem}-csv")
    if png is not None:
        right.download_button("Download the plot (PNG)", png, file_name=f"{stem}.png",
                              mime="image/png", key=f"{stem}-png")


def session_tmpdir() -> Path:
    """This session's temporary folder (removed when the session ends or the app stops)."""
    if "_acakit_tmp" not in st.session_state:
        st.session_state["_acakit_tmp"] = tempfile.TemporaryDirectory(prefix="acakit-app-")
    return Path(st.session_state["_acakit_tmp"].name)


@st.cache_resource(show_spinner="Loading the data set ...")
def bundled(name: str) -> Any:
    """A bundled data set (loaded once per app process; public data only)."""
    return logic.load_bundled(name)


def upload(key: str, sensitive: bool = False, text: bool = False) -> tuple[Any, dict[str, Any]] | None:
    """A CSV upload with its label (and sensitive / text column) choices.

    Returns ``(dataset, info)`` with ``info["path"]`` the copy in the session's temporary
    folder, or None while nothing usable is uploaded (a message says why).
    """
    file = st.file_uploader("A CSV sample of the platform's data (stays on this computer)",
                            type=["csv"], key=f"{key}-file")
    if file is None:
        st.info("Upload a CSV file with a header row: one column is the outcome (label).")
        return None
    data = file.getvalue()
    try:
        columns = logic.csv_columns(data)
    except ValueError as e:
        show_error(e)
        return None
    label = st.selectbox("Which column is the outcome (label)?", columns, index=len(columns) - 1,
                         key=f"{key}-label")
    rest = [c for c in columns if c != label]
    sens: list[str] = []
    if sensitive:
        s = st.selectbox("Which column is the sensitive attribute?", rest, key=f"{key}-sensitive")
        sens = [s]
    text_col = None
    if text:
        choice = st.selectbox("Is one column free text? (then the signal is a text trigger)",
                              ["no: the columns are features"] + rest, key=f"{key}-text")
        text_col = None if choice.startswith("no:") else choice
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = logic.save_upload(data, session_tmpdir(), f"{digest}.csv")
    try:
        ds = _load_upload(str(path), digest, label, tuple(sens), text_col)
    except ValueError as e:
        show_error(e)
        return None
    return ds, {"path": str(path), "label": label, "sensitive": sens, "name": file.name}


def _load_upload(path: str, digest: str, label: str, sensitive: tuple[str, ...],
                 text_column: str | None) -> Any:
    store = st.session_state.setdefault("_acakit_uploads", {})
    key = (digest, label, sensitive, text_column)
    if key not in store:
        store.clear()  # keep one upload in memory per session
        store[key] = logic.load_upload(path, label, sensitive, text_column)
    return store[key]
