"""Streamlit entry script of the planner app: the page menu."""

from __future__ import annotations

import streamlit as st

from acakit.app import PAGES, page_script

st.set_page_config(page_title="acakit planner", layout="wide")
pages = [st.Page(str(page_script(f)), title=t, default=i == 0) for i, (f, t) in enumerate(PAGES)]
st.navigation(pages).run()
