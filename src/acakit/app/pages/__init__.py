"""Streamlit page scripts of the planner app (run by ``acakit app``; not imported)."""
