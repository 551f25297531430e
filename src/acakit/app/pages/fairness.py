"""Page: fairness through minority collective action (Pareto plot, relabelings needed)."""

from __future__ import annotations

import streamlit as st

from acakit.app import common, logic

common.setup(
    "Fairness: a minority acts on its own labels",
    "A share of a minority group relabels some of its **own** unfavourable outcomes: those a "
    "majority member with the same features would most likely have received favourably. The "
    "platform retrains as usual. How much fairer does its model get, at what cost in error, and "
    "how many relabelings does it take? (Ben-Dov et al. 2025; see docs/fairness.md.)",
)

BUNDLED, UPLOAD = "A bundled data set", "My own CSV file"
source = st.radio("Data", [BUNDLED, UPLOAD], horizontal=True, key="fa_source")
ds, dataset, params = None, "", {}
try:
    if source == BUNDLED:
        dataset = st.selectbox("Data set", logic.BUNDLED_FAIR, key="fa_dataset")
        ds = common.bundled(dataset)
    else:
        got = common.upload("fa_upload", sensitive=True)
        if got:
            ds, info = got
            dataset, params = "csv", {"path": info["path"], "label": info["label"],
                                      "sensitive": info["sensitive"]}
except Exception as e:  # noqa: BLE001
    common.show_error(e)
if ds is None:
    st.stop()
if ds.sensitive is None or ds.sensitive.shape[1] == 0:
    st.error(f"{ds.name} has no sensitive attribute; pick another data set or name one in your CSV.")
    st.stop()

from acakit.audit import pick_groups  # noqa: E402
from acakit.fairness.baselines import BASELINES  # noqa: E402

sensitive = st.selectbox("Sensitive attribute", list(ds.sensitive.columns), key=f"fa_sensitive_{ds.name}")
values = ds.sensitive[sensitive].astype(str).value_counts()
minority = st.selectbox("Minority group (the collective's group)", list(values.index[::-1]),
                        key=f"fa_minority_{ds.name}_{sensitive}")
try:
    _, fav_default = pick_groups(ds, sensitive, minority)
except Exception:  # noqa: BLE001
    fav_default = str(ds.classes[-1])
classes = list(map(str, ds.classes))
favorable = st.selectbox("Favourable outcome", classes, index=classes.index(fav_default),
                         key=f"fa_favorable_{ds.name}")
st.caption(f"{ds.name}: {len(ds):,} rows; {sensitive} = {minority}: {int(values[minority]):,} rows.")
left, right = st.columns(2)
alpha = left.number_input("Collective: share of the minority that joins (0 to 1)", min_value=0.0,
                          max_value=1.0, value=0.3, step=0.05, key="fa_alpha")
firm = right.selectbox("The platform's model (firm)", logic.FIRMS_BY_KIND["tabular"][:3], key="fa_firm")
methods = st.multiselect("How members choose which labels to change",
                         ["probability", "label", "distance", "random"], default=["probability", "random"],
                         key="fa_methods")
budgets_text = st.text_input("Budgets: share of the members' unfavourable labels changed (comma-separated)",
                             value="0, 0.05, 0.1, 0.2, 0.3, 0.5", key="fa_budgets")
baselines = st.multiselect("What the firm could do instead (baselines)",
                           [b for b in BASELINES if b != "none"], default=["threshold_eo"],
                           key="fa_baselines")
goal = st.number_input("Gap to reach (equalized odds; 0: half of today's gap)", min_value=0.0, max_value=1.0,
                       value=0.0, step=0.01, key="fa_goal")
run = st.button("Run", type="primary", key="fa_run")

if run:
    try:
        budgets = logic.parse_floats(budgets_text, "budgets")
        cfg = logic.fairness_config(dataset, params, sensitive, minority, favorable, alpha, firm, methods,
                                    budgets, baselines)
        with st.spinner("Relabeling and retraining the firm at each budget ..."):
            table, png, need = logic.run_fairness(cfg, goal=goal or None)
        st.session_state["fa_result"] = (table, png, need)
    except Exception as e:  # noqa: BLE001
        st.session_state.pop("fa_result", None)
        common.show_error(e)
        st.stop()

if "fa_result" not in st.session_state:
    st.info("Choose the groups and press **Run**.")
    st.stop()

table, png, need = st.session_state["fa_result"]
c1, c2, c3 = st.columns(3)
c1.metric("Equalized-odds gap today", f"{need['no_action_gap']:.3f}")
c2.metric(f"Relabelings to reach {need['goal']:.3f}",
          "not reached" if need["flips_needed"] is None else f"{need['flips_needed']:.0f}")
c3.metric("Lowest gap reached", f"{need['best_gap']:.3f}" if need["best_gap"] is not None else "-",
          help=f"with {need['best_flips']:.0f} relabelings ({need['method']})"
          if need["best_flips"] is not None else None)
st.image(png, caption="Error vs unfairness over budgets (Pareto frontier), firm baselines, no action")
st.dataframe(table, hide_index=True)
common.downloads(table, png, "fairness_pareto")
