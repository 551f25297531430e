"""Page: what if other groups act too? Bounds in three knowledge tiers (acakit.multi)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from acakit.app import common, logic

common.setup(
    "Other collectives",
    "Other groups may plant their own signals in the same platform. A group whose target "
    "**conflicts** with yours and whose points land on your signal pulls the model away from your "
    "outcome; an **aligned** group helps. How much you can still guarantee depends on what you "
    "know about them: everything (**full knowledge**), only the conflicting mass on your signal "
    "published by an aggregator (**aggregate**), or only a range for their total size "
    "(**worst case**). Bounds from Battiloro et al.; see acakit.multi.",
)

st.subheader("Your collective")
c1, c2, c3 = st.columns(3)
n_train = c1.number_input("Platform training-set size N", min_value=0, value=100_000, step=1000, key="oc_n")
xi = c2.number_input("Signal rarity ξ", min_value=0.0, max_value=1.0, value=0.001, step=0.0001,
                     format="%.6f", key="oc_xi")
gap = c3.number_input("Base gap Δ", min_value=0.0, max_value=1.0, value=0.3, step=0.01, format="%.4f",
                      key="oc_gap")
c4, c5, c6 = st.columns(3)
target = c4.number_input("Target success S*", min_value=0.0, max_value=1.0, value=0.9, step=0.01,
                         key="oc_target")
epsilon = c5.number_input("Firm suboptimality ε", min_value=0.0, max_value=0.999, value=0.0, step=0.01,
                          format="%.4f", key="oc_eps")
alpha = c6.number_input("Your planned size α (fraction; 0: none)", min_value=0.0, max_value=1.0,
                        value=0.005, step=0.001, format="%.5f", key="oc_alpha")

st.subheader("The other groups")
n_groups = int(st.number_input("How many other groups?", min_value=0, max_value=6, value=2, key="oc_groups"))
defaults = logic.default_others()
rows = []
for i in range(n_groups):
    d = defaults.iloc[i % len(defaults)]
    cols = st.columns([2, 1.2, 1.2, 1.2, 1.5, 1.2])
    rows.append({
        "group": cols[0].text_input("Group", value=str(d["group"]) if i < len(defaults) else f"group {i + 1}",
                                    key=f"oc_name_{i}"),
        "size": cols[1].number_input("Size", min_value=0.0, max_value=1.0, value=float(d["size"]),
                                     step=0.0005, format="%.5f", key=f"oc_size_{i}"),
        "size low": cols[2].number_input("Size at least", min_value=0.0, max_value=1.0,
                                         value=float(d["size low"]), step=0.0005, format="%.5f",
                                         key=f"oc_low_{i}"),
        "size high": cols[3].number_input("Size at most", min_value=0.0, max_value=1.0,
                                          value=float(d["size high"]), step=0.0005, format="%.5f",
                                          key=f"oc_high_{i}"),
        "target": cols[4].selectbox("Their target", ["conflicting", "aligned"],
                                    index=0 if d["target"] == "conflicting" else 1, key=f"oc_target_{i}"),
        "overlap": cols[5].number_input("Share on your signal", min_value=0.0, max_value=1.0,
                                        value=float(d["overlap"]), step=0.1, key=f"oc_overlap_{i}",
                                        help="Share of their points that carry your signal "
                                             "(1: the same signal)."),
    })
others = pd.DataFrame(rows, columns=logic.OTHERS_COLUMNS)

try:
    mp = logic.multi_plan(gap, xi, target, int(n_train), others, epsilon, alpha or None)
    png = logic.plot_multi(mp, target, alpha or None)
except Exception as e:  # noqa: BLE001
    common.show_error(e)
    st.stop()

names = {"alone": "No other group", "full": "Full knowledge", "aggregate": "Aggregate", "worst": "Worst case"}
cols = st.columns(4)
for col, row in zip(cols, mp.summary.to_dict("records"), strict=True):
    finite = np.isfinite(row["critical_mass"])
    tier = names[row["tier"]]
    col.metric(f"{tier}: critical mass", f"{row['critical_mass']:.6g}" if finite else "out of reach",
               help="Least α whose guaranteed success reaches S* under this tier.")
    col.metric(f"{tier}: head count", f"{int(row['critical_count']):,}" if finite else "out of reach")
    if "bound_at_alpha" in row:
        col.metric(f"{names[row['tier']]}: guaranteed success at your α", f"{row['bound_at_alpha']:.3f}")
o = mp.others
st.caption(f"Others' total size B = {o['B']:.4g} (range {o['B_low']:.4g} to {o['B_high']:.4g}); conflicting "
           f"mass on your signal K = {o['K']:.4g}; aligned mass A = {o['A']:.4g}. Full knowledge assumes "
           "the others spread over your signal points as you do.")
st.image(png, caption="Lower bound on your success vs your size, per knowledge tier")
st.dataframe(mp.table, hide_index=True)
common.downloads(mp.table.merge(mp.summary.assign(alpha=np.nan), how="outer"), png, "other_collectives")
