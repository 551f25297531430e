"""Page: plan from numbers (the numbers of ``acakit plan --json``)."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from acakit.analyses.planning import plot_plan
from acakit.app import common, logic

common.setup(
    "Plan from numbers",
    "How many of you must act for the platform's model to do what you need? Your collective adds "
    "a **signal** to its records (a rare combination of answers, a word, a mark) and the outcome "
    "you want. The answer depends on how **rare** the signal already is in the platform's data "
    "(ξ) and how strongly the existing data **argues against** your outcome where the signal "
    "appears (Δ).",
)

KNOWN, HELP = "I know ξ and Δ", "Help me estimate them"
mode = st.radio("How do you want to describe your signal?", [KNOWN, HELP], horizontal=True,
                key="pn_mode")

with st.form("plan_numbers"):
    n_train = st.number_input("Platform training-set size N (records)", min_value=0, value=100_000,
                              step=1_000, key="pn_n")
    if mode == KNOWN:
        xi = st.number_input("Signal rarity ξ (share of records that already look like your signal)",
                             min_value=0.0, max_value=1.0, value=0.001, step=0.0001, format="%.6f",
                             key="pn_xi")
        gap = st.number_input("Base gap Δ (how far your outcome is behind the most common one "
                              "where the signal appears, 0 to 1)", min_value=0.0, max_value=1.0,
                              value=0.3, step=0.01, format="%.4f", key="pn_gap")
    else:
        st.markdown("**How unusual is your signal?** Look at a sample of records like the "
                    "platform's (your own, a public data set) and count.")
        records = st.number_input("Records you looked at", min_value=0, value=10_000, key="pn_records")
        with_signal = st.number_input("... of which already look like your signal", min_value=0,
                                      value=10, key="pn_with_signal")
        share = st.number_input("Of those, the share that already gets the outcome you want (0 to 1)",
                                min_value=0.0, max_value=1.0, value=0.35, step=0.05, key="pn_share")
    target = st.number_input("Target success S* (share of signal-carrying records that should get "
                             "your outcome)", min_value=0.0, max_value=1.0, value=0.9, step=0.01,
                             key="pn_target")
    epsilon = st.number_input("Firm suboptimality ε (0: the firm learns the data perfectly)",
                              min_value=0.0, max_value=0.999, value=0.0, step=0.01, format="%.4f",
                              key="pn_eps")
    confidence = st.selectbox("Confidence of the finite-sample bound", list(logic.CONFIDENCES),
                              key="pn_conf")
    st.form_submit_button("Compute", type="primary")

try:
    if mode == HELP:
        xi = logic.signal_mass_from_counts(with_signal, records)
        gap = logic.gap_from_share(share)
        st.info(f"From your counts: ξ = {xi:.6g} (signal rarity), Δ = {gap:.4g} (base gap).")
    delta = logic.CONFIDENCES[confidence]
    p = logic.plan_from_numbers(int(n_train), xi, gap, target, epsilon, delta)
    png = logic.plot_png(partial(plot_plan, p), "plan")
except Exception as e:  # noqa: BLE001 - every problem becomes a message, never a traceback
    common.show_error(e)
    st.stop()

finite = np.isfinite(p.critical_mass)
c1, c2, c3 = st.columns(3)
c1.metric("Critical mass α* (fraction of the training set)",
          f"{p.critical_mass:.10f}" if finite else "out of reach",
          help="Least collective size whose guaranteed success reaches S* (infinite-data bound).")
c2.metric("Head count ⌈α* N⌉", f"{int(p.critical_count):,}" if finite else "out of reach")
if p.delta is not None:
    fc = p.finite_critical_count
    c3.metric(f"Finite-sample head count ({confidence})",
              f"{int(fc):,}" if fc is not None and np.isfinite(fc) else "out of reach",
              help="Least number of members whose finite-sample bound reaches S* with this confidence.")
st.markdown(logic.describe_plan(p))
st.image(png, caption="Lower bound on success vs collective size")
st.dataframe(p.table, hide_index=True)
common.downloads(p.table, png, "plan_from_numbers")
