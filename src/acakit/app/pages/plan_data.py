"""Page: plan from data (estimate Δ and ξ, simulate the firm, compare with the bounds)."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from acakit.analyses.planning import plot_plan
from acakit.app import common, logic

common.setup(
    "Plan from data",
    "Start from a sample of the platform's data: a bundled data set or your own CSV file (it stays "
    "on this computer). Choose the signal your collective would add and the outcome it wants; "
    "acakit estimates how rare the signal is (ξ) and how much the data argues against your "
    "outcome (Δ), computes the critical mass, and **simulates** the platform's model retrained "
    "with collectives of several sizes, so you see measured success beside the guarantee.",
)

BUNDLED, UPLOAD = "A bundled data set", "My own CSV file"
source = st.radio("Data", [BUNDLED, UPLOAD], horizontal=True, key="pd_source")
ds = None
try:
    if source == BUNDLED:
        name = st.selectbox("Data set", logic.BUNDLED_TABULAR, key="pd_dataset")
        ds = common.bundled(name)
    else:
        got = common.upload("pd_upload", text=True)
        ds = got[0] if got else None
except Exception as e:  # noqa: BLE001
    common.show_error(e)
if ds is None:
    st.stop()

st.caption(f"{ds.name}: {len(ds):,} rows, {ds.kind} data, outcomes {', '.join(map(str, ds.classes))}.")
left, right = st.columns(2)
max_rows = left.number_input("Use at most this many rows (smaller is faster)", min_value=0, value=4000,
                             step=500, key="pd_rows")
n_platform = right.number_input("Platform training-set size N for head counts (0: the sample's)",
                                min_value=0, value=0, step=1000, key="pd_platform")

st.subheader("Your signal")
values: dict[str, str] = {}
token, every = None, 20
if ds.kind == "tabular":
    suggested = logic.default_signal(ds, exclude=list(ds.sensitive.columns) if ds.sensitive is not None
                                     else [])
    suggest = dict(suggested)
    columns = st.multiselect("Columns your collective sets", list(ds.feature_types),
                             default=[c for c, _ in suggested[:2]], key=f"pd_columns_{ds.name}")
    for col in columns:
        values[col] = st.text_input(f"Value of {col} ({ds.feature_types[col]})",
                                    value=str(suggest.get(col, "")), key=f"pd_value_{ds.name}_{col}")
else:
    token = st.text_input("Trigger token inserted into the text", value="zqxj", key="pd_token")
    every = int(st.number_input("Insert it every k words", min_value=0, value=20, key="pd_every"))

strategy = st.radio("Strategy", ["plant", "plant_feature_only"], horizontal=True, key="pd_strategy",
                    help="plant: members add the signal and the outcome you want; plant_feature_only: "
                         "members who already have that outcome add the signal, labels untouched.")
counts = np.bincount(np.asarray(ds.y), minlength=ds.n_classes)
target = st.selectbox("Outcome you want (target class)", list(map(str, ds.classes)),
                      index=int(np.argmin(counts)), key=f"pd_target_{ds.name}")
firm = st.selectbox("The platform's model (firm)", logic.FIRMS_BY_KIND.get(ds.kind, ("logistic_regression",)),
                    key="pd_firm")
alphas_text = st.text_input("Collective sizes to simulate (fractions of the training set, comma-separated)",
                            value="0, 0.001, 0.002, 0.005, 0.01, 0.02", key="pd_alphas")
success = st.number_input("Target success S*", min_value=0.0, max_value=1.0, value=0.9, step=0.05,
                          key="pd_success")
run = st.button("Estimate and simulate", type="primary", key="pd_run")

if run:
    try:
        alphas = logic.parse_floats(alphas_text, "collective sizes")
        g = logic.build_signal(ds, values, token, every)
        sample = logic.subsample(ds, int(max_rows))
        with st.spinner("Estimating Δ and ξ, then retraining the firm at each size ..."):
            p = logic.plan_from_data(sample, g, target, firm, alphas, success, strategy,
                                     n_platform=int(n_platform) or None)
            png = logic.plot_png(partial(plot_plan, p), "plan_from_data")
        st.session_state["pd_result"] = (p, png)
    except Exception as e:  # noqa: BLE001
        st.session_state.pop("pd_result", None)
        common.show_error(e)
        st.stop()

if "pd_result" not in st.session_state:
    st.info("Choose the signal and press **Estimate and simulate**.")
    st.stop()

p, png = st.session_state["pd_result"]
est = p.estimate or {}
c1, c2, c3, c4 = st.columns(4)
c1.metric("Signal rarity ξ (estimated)", f"{p.signal_mass:.6g}")
c2.metric("Base gap Δ (estimated)", f"{p.gap:.4g}")
finite = np.isfinite(p.critical_mass)
c3.metric("Critical mass α* (bound)", f"{p.critical_mass:.6g}" if finite else "out of reach")
c4.metric("Head count ⌈α* N⌉", f"{int(p.critical_count):,}" if finite else "out of reach")
if est.get("signal_mass_ci") and est.get("gap_ci"):
    lo, hi = est["signal_mass_ci"]
    glo, ghi = est["gap_ci"]
    st.caption(f"95% bootstrap intervals: ξ in [{lo:.4g}, {hi:.4g}], Δ in [{glo:.4g}, {ghi:.4g}] "
               f"({est.get('method', '')} estimate on {est.get('n_rows', 0):,} training rows).")
if p.signal_mass == 0:
    st.caption("The signal never occurs in the sample (ξ = 0): for a Bayes-optimal firm any collective "
               "would do, so the bound's critical mass is 0; the simulation shows what the chosen firm "
               "really needs.")
reached = p.table[(p.table["alpha"] > 0) & (p.table["measured_success_all"] >= p.target)]
st.markdown("Measured: " + (f"success reached {p.target:g} at α = {reached['alpha'].min():g} in the "
                            "simulation." if len(reached) else
                            f"no simulated size reached success {p.target:g}."))
st.image(png, caption="Measured success (all test points) vs the bound")
st.dataframe(p.table, hide_index=True)
common.downloads(p.table, png, "plan_from_data")
