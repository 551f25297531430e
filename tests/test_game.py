"""The firm answers back (issue 29): equilibria of games with known answers, payoffs from a
hand-made results table, the critical mass against a strategic firm, config validation, and one
small run through the CLI that ``acakit report`` redraws from the store alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from acakit.analyses.game import (
    critical_masses,
    equilibrium_table,
    label_strategies,
    nash_equilibria,
    payoff_table,
    solve_games,
    stackelberg,
)
from acakit.engine.config import ConfigError, grid_label, parse_config


# ----------------------------------------------------------------------------- solvers
def test_matching_pennies_mixes_half_half():
    A = np.array([[1.0, -1.0], [-1.0, 1.0]])
    eqs = nash_equilibria(A, -A)
    assert len(eqs) == 1
    x, y = eqs[0]
    np.testing.assert_allclose(x, [0.5, 0.5])
    np.testing.assert_allclose(y, [0.5, 0.5])


def test_rock_paper_scissors_mixes_thirds():
    A = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=float)
    (x, y), = nash_equilibria(A, -A)
    np.testing.assert_allclose(x, [1 / 3] * 3)
    np.testing.assert_allclose(y, [1 / 3] * 3)


def test_strictly_dominated_defense_is_never_played():
    # columns: the firm's defenses; the last is strictly dominated for the firm (B)
    A = np.array([[0.9, 0.2, 0.1], [0.4, 0.5, 0.3]])     # the collective's success
    B = np.array([[0.70, 0.80, 0.60], [0.78, 0.72, 0.65]])  # column 2 < columns 0 and 1
    eqs = nash_equilibria(A, B)
    assert eqs
    for x, y in eqs:
        assert y[2] == 0
        # and it is an equilibrium: nobody gains by a pure deviation
        assert (A @ y).max() <= x @ A @ y + 1e-9 and (x @ B).max() <= x @ B @ y + 1e-9
    assert stackelberg(A, B, "row")[1] != 2 and stackelberg(A, B, "column")[1] != 2
    # this game has no pure equilibrium: the unique one mixes the two undominated defenses
    (x, y), = eqs
    np.testing.assert_allclose(y, [3 / 8, 5 / 8, 0], atol=1e-9)  # 0.9a+0.2b = 0.4a+0.5b
    np.testing.assert_allclose(x, [3 / 8, 5 / 8], atol=1e-9)  # 0.70p+0.78q = 0.80p+0.72q


def test_committing_first_changes_the_outcome():
    # the row player's row 0 strictly dominates row 1, so the only Nash equilibrium is (0, 0)
    # with payoff 1; committing to the dominated row 1 makes the column player answer 1: payoff 2
    A = np.array([[1.0, 3.0], [0.0, 2.0]])
    B = np.array([[1.0, 0.0], [0.0, 1.0]])
    (x, y), = nash_equilibria(A, B)
    np.testing.assert_allclose(x, [1, 0])
    np.testing.assert_allclose(y, [1, 0])
    assert stackelberg(A, B, "row") == (1, 1)
    assert stackelberg(A, B, "column") == (0, 0)


def test_hand_computed_stackelberg_with_ties():
    # firm (columns) commits: to col 0 the collective answers row 1 (0.6 > 0.5); to col 1 it is
    # indifferent between rows 0 and 1 (0.3) and breaks the tie for the firm (row 1: 0.9 > 0.4);
    # to col 2 it answers row 0 (0.8). Firm payoffs of those: 0.5, 0.9, 0.2 -> commits to col 1.
    A = np.array([[0.5, 0.3, 0.8], [0.6, 0.3, 0.1]])
    B = np.array([[0.7, 0.4, 0.2], [0.5, 0.9, 0.6]])
    assert stackelberg(A, B, "column") == (1, 1)
    # collective commits: row 0 -> firm answers col 0 (0.7): success 0.5; row 1 -> col 1 (0.9):
    # success 0.3 -> commits to row 0
    assert stackelberg(A, B, "row") == (0, 0)
    with pytest.raises(ValueError, match="leader"):
        stackelberg(A, B, "nobody")  # type: ignore[arg-type]


def test_degenerate_game_still_has_an_equilibrium():
    # α = 0: every answer scores the same; the firm's best defense is pure
    A = np.zeros((3, 3))
    B = np.tile([0.80, 0.79, 0.78], (3, 1))
    eqs = nash_equilibria(A, B)
    assert eqs and all(np.allclose(y, [1, 0, 0]) for _, y in eqs)
    with pytest.raises(ValueError, match="finite matrices"):
        nash_equilibria(A, B[:, :2])


# ----------------------------------------------------------------------------- payoffs
def _results(seeds=(0, 1)) -> pd.DataFrame:
    """A hand-made results table: answers plain / camouflage, defenses none / filter, α 0.01 and
    0.05. The filter stops plain planting (success 0.1) at 1% and 5% but not camouflage; it costs
    the firm 0.01 accuracy and drops 10% of honest rows."""
    success = {  # (answer, defense, alpha) -> success
        ("plain", "none", 0.01): 0.9, ("plain", "filter", 0.01): 0.1,
        ("camo", "none", 0.01): 0.4, ("camo", "filter", 0.01): 0.4,
        ("plain", "none", 0.05): 1.0, ("plain", "filter", 0.05): 0.1,
        ("camo", "none", 0.05): 0.8, ("camo", "filter", 0.05): 0.7,
    }
    rows = []
    for seed in seeds:
        for (ans, dfn, a), s in success.items():
            rows.append({"alpha_requested": a, "alpha": a, "n_members": 1000 * a, "seed": seed,
                         "success": s + 0.02 * seed, "accuracy": 0.85 - (0.01 if dfn == "filter" else 0),
                         "clean_accuracy": 0.85, "game_answer": ans, "game_defense": dfn,
                         "defense_honest_dropped": 0.1 if dfn == "filter" else np.nan})
    return pd.DataFrame(rows)


def test_payoffs_from_a_results_table():
    pay = payoff_table(_results(), price_success=0.1, price_honest=0.2)
    row = pay[(pay["answer"] == "plain") & (pay["defense"] == "filter") & (pay["seed"] == 0)
              & (pay["size"] == 0.01)].iloc[0]
    assert row["collective_payoff"] == pytest.approx(0.1)
    assert row["firm_payoff"] == pytest.approx(0.84 - 0.1 * 0.1 - 0.2 * 0.1)
    none = pay[(pay["defense"] == "none")]
    assert (none["honest_dropped"] == 0).all()  # no defense: NaN -> nothing dropped
    np.testing.assert_allclose(none["firm_payoff"], 0.85 - 0.1 * none["success"])


def test_equilibria_and_critical_masses_of_a_hand_made_table():
    pay = payoff_table(_results(), price_success=0.1, price_honest=0.05)
    solved = solve_games(pay)
    assert set(solved["concept"]) == {"collective_leads", "firm_leads", "nash", "defense=none",
                                      "defense=filter"}
    s0 = solved[(solved["seed"] == 0) & (solved["size"] == 0.01)].set_index("concept")
    # firm at α = 1%: filter vs plain pays 0.84 - 0.01 - 0.005 = 0.825 > none's 0.76; vs camo
    # filter pays 0.84 - 0.04 - 0.005 = 0.795 < none's 0.81. Collective commits: plain -> filter
    # (0.1), camo -> none (0.4): it commits to camo, success 0.4.
    assert s0.loc["collective_leads", "answer_mix"] == "camo"
    assert s0.loc["collective_leads", "defense_mix"] == "none"
    assert s0.loc["collective_leads", "success"] == pytest.approx(0.4)
    # firm commits: none -> plain (0.9, firm 0.76); filter -> camo (0.4, firm 0.795): filter, 0.4
    assert s0.loc["firm_leads", "defense_mix"] == "filter"
    assert s0.loc["firm_leads", "success"] == pytest.approx(0.4)
    assert s0.loc["defense=none", "success"] == pytest.approx(0.9)
    # Nash at α = 1%: the collective is indifferent vs filter only if ... mixed; it is an
    # equilibrium and its success lies between the pure outcomes' successes
    assert 0.1 <= s0.loc["nash", "success"] <= 0.9
    table = equilibrium_table(solved)
    cl = table[table["concept"] == "collective_leads"].set_index("size")
    # seeds 0 and 1 differ by 0.02 in success: mean 0.41, a t-interval over 2 seeds around it
    assert cl.loc[0.01, "success"] == pytest.approx(0.41)
    assert cl.loc[0.01, "success_lo"] < 0.41 < cl.loc[0.01, "success_hi"]
    assert cl.loc[0.01, "seeds"] == 2
    crit = critical_masses(table, target_success=0.5).set_index("concept")
    assert crit.loc["defense=none", "critical_alpha"] == 0.01      # undefended: 0.91 at 1%
    assert crit.loc["collective_leads", "critical_alpha"] == 0.05  # strategic: 0.41 -> 0.8
    assert crit.loc["collective_leads", "critical_members"] == 50
    # what the firm pays there: at 5% it answers camo with none (0.85 - 0.08 > 0.84 - 0.07 -
    # 0.005), so no accuracy cost and nothing dropped
    assert crit.loc["collective_leads", "accuracy_cost"] == pytest.approx(0.0)
    assert np.isnan(critical_masses(table, target_success=0.99).set_index("concept")
                    .loc["collective_leads", "critical_alpha"])


def test_one_seed_has_no_interval():
    table = equilibrium_table(solve_games(payoff_table(_results(seeds=(0,)))))
    assert table["success_lo"].isna().all() and (table["seeds"] == 1).all()


def test_a_game_missing_a_pair_is_skipped():
    r = _results()
    r = r.drop(r.index[(r["seed"] == 1) & (r["alpha"] == 0.05) & (r["game_answer"] == "camo")
                       & (r["game_defense"] == "filter")])
    solved = solve_games(payoff_table(r))
    assert len(solved[(solved["seed"] == 1) & (solved["size"] == 0.05)]) == 0
    assert len(solved[(solved["seed"] == 0) & (solved["size"] == 0.05)]) == 5


def test_strategies_are_read_back_from_the_grid():
    grid = {"firm.defense": [{"name": "none"},
                             {"name": "isolation_forest", "params": {"contamination": 0.01}},
                             {"name": "isolation_forest", "params": {"contamination": 0.05}}],
            "collective": [{"camouflage": 0.0}, {"noise": {"p_feature_only": 0.5}}]}
    keys = list(grid)
    variants = [grid_label(keys, (d, a)) for d in grid["firm.defense"] for a in grid["collective"]]
    out = label_strategies(pd.DataFrame({"variant": variants}), grid)
    assert list(dict.fromkeys(out["game_defense"])) == [
        "none", "isolation_forest(contamination=0.01)", "isolation_forest(contamination=0.05)"]
    # answers in the short form of the other tables: a noise spec as its level q
    assert list(dict.fromkeys(out["game_answer"])) == ["camouflage=0", "q=0.5"]
    # names alone tell the defenses apart: no parameters in the labels
    grid["firm.defense"] = grid["firm.defense"][:2]
    variants = [grid_label(keys, (d, a)) for d in grid["firm.defense"] for a in grid["collective"]]
    assert set(label_strategies(pd.DataFrame({"variant": variants}), grid)["game_defense"]) == {
        "none", "isolation_forest"}


# ----------------------------------------------------------------------------- config
RATINGS = {"name": "product_ratings", "params": {"n_samples": 600, "n_features": 4}}


def _config(tmp: Path | None = None, **game: object) -> dict:
    return {
        "name": "tiny game",
        "dataset": RATINGS,
        "firm": {"name": "logistic_regression"},
        "collective": {"strategy": "plant", "target": 1,
                       "signal": {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}},
        "sweep": {"alpha": [0.0, 0.05], "seed": [0, 1],
                  "grid": {"firm.defense": [{"name": "none"},
                                            {"name": "isolation_forest",
                                             "params": {"contamination": 0.05}}],
                           "collective": [{"camouflage": 0.0}, {"camouflage": 1.0}]}},
        "game": game,
        "output": {"dir": str(tmp / "out") if tmp else "results/tiny_game"},
    }


@pytest.mark.parametrize(("edit", "message"), [
    ({"game": {"concept": "greedy"}},
     "game.concept: Input should be 'collective_leads', 'firm_leads' or 'nash'"),
    ({"game": {"price_success": -1}}, "game.price_success: Input should be greater than or equal"),
    ({"game": {"price_honest": True}}, "game.price_honest: a number, not True"),
    ({"game": {"target_success": 1.5}}, "game.target_success: Input should be less than or equal"),
    ({"game": {"alpha": 0.02}}, "game.alpha: 0.02 is not one of sweep.alpha (0, 0.05)"),
    ({"game": {"price_success": 1e308}}, "game.price_success: Input should be less than or equal"),
    ({"game": {"prices": 1}}, "game.prices: Extra inputs are not permitted"),
    ({"sweep.grid": {"firm.defense": [{"name": "none"}, {"name": "isolation_forest"}]}},
     "game: the sweep has no answer axis"),
    ({"sweep.grid": {"collective": [{"camouflage": 0.0}, {"camouflage": 1.0}]}},
     "game: the sweep has no defense axis"),
    ({"sweep.grid": {"firm.defense": [{"name": "none"}], "collective.camouflage": [0.0, 1.0]}},
     "game: sweep.grid.firm.defense gives the firm 1 strategy; a game needs at least 2"),
    ({"sweep.grid": {"firm.defense": [{"name": "min_df"}, {"name": "min_df", "params": {}}],
                     "collective.camouflage": [0.0, 1.0]}},
     "game: sweep.grid.firm.defense lists the same strategy twice (entries 1 and 2"),
    ({"sweep.grid": {"firm.defense": [{"name": "none"}, {"name": "isolation_forest"}],
                     "collective.camouflage": [0.0, 1.0], "firm.name": ["a", "b"]}},
     "game: sweep.grid.firm.name varies something other than"),
])
def test_bad_game_sections_are_refused_in_one_line(edit, message):
    cfg = _config()
    for k, v in edit.items():
        if k == "sweep.grid":
            cfg["sweep"]["grid"] = v
        else:
            cfg[k] = v
    with pytest.raises(ConfigError) as e:
        parse_config(cfg)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_game_in_multi_and_fairness_configs_is_refused():
    from acakit.engine import prepare
    from acakit.engine.config import read_config

    examples = Path(__file__).resolve().parents[1] / "examples"
    for name, kind in (("two_collectives.yaml", "multi"), ("fairness_toy.yaml", "fairness")):
        raw = read_config(examples / name) | {"game": {}}
        with pytest.raises(ConfigError, match=f"game: the game analysis needs experiment: "
                                              f"collective .*not {kind}"):
            prepare(raw)


def test_game_section_is_not_part_of_any_cell():
    from acakit.engine.config import expand

    a = [c.cell_id for c in expand(parse_config(_config(price_success=0.1)))]
    b = [c.cell_id for c in expand(parse_config(_config(price_success=0.9, concept="nash")))]
    assert a == b


# ----------------------------------------------------------------------------- end to end
def _cli(*args: str):
    from typer.testing import CliRunner

    from acakit.cli import _register_plugins, app

    if not any(getattr(c, "name", None) == "report" or getattr(c.callback, "__name__", "") == "report"
               for c in app.registered_commands):
        _register_plugins()
    return CliRunner().invoke(app, list(args))


def _e2e_config(tmp: Path) -> dict:
    """The out-of-range signal f3 = 9: an isolation forest drops every member (recall 1), so the
    undefended firm is steered at 3% and the strategic one is not."""
    cfg = _config(tmp, price_success=0.5, alpha=0.03)
    cfg["collective"]["signal"] = {"type": "set_columns", "values": {"f3": 9}}
    cfg["sweep"]["alpha"] = [0.0, 0.03]
    return cfg


def test_bad_game_on_the_cli_is_one_error_line_before_any_work(tmp_path):
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(_config(tmp_path, concept="greedy"), sort_keys=False))
    r = _cli("run", str(p), "-j", "1", "-q")
    err = r.stderr.strip()
    assert r.exit_code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: game.concept: Input should be 'collective_leads'"), err
    assert not (tmp_path / "out").exists()


def test_run_then_report_writes_the_game_from_the_store(tmp_path):
    """16 cells on 600 synthetic rows: the run prints the equilibrium table and the two
    critical masses, writes both plots and the CSVs, and ``report`` redraws the same tables from
    the store alone; the tables agree with the game solved again from results.csv."""
    p = tmp_path / "cfg.yaml"
    cfg = _e2e_config(tmp_path)
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = _cli("run", str(p), "-j", "1", "-q")
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "out"
    assert "equilibria per α" in r.stdout
    assert "critical mass for success ≥ 0.5 against a strategic firm" in r.stdout
    assert "not reached in the sweep" in r.stdout  # the firm filters: success stays at base
    assert "critical mass against a firm that does not defend: α = 3" in r.stdout
    names = ("game_payoffs.csv", "game_equilibria.csv", "game_critical.csv")
    for name in (*names, "game_success.png", "game_success.svg", "game_payoffs.png"):
        assert (out / name).stat().st_size > 0, name
    first = {n: (out / n).read_text() for n in names}
    eq = pd.read_csv(out / "game_equilibria.csv")
    at = eq[eq["alpha"] > 0].set_index("concept")
    for concept in ("collective_leads", "firm_leads", "nash"):
        assert at.loc[concept, "defense_mix"] == "isolation_forest", concept
        assert at.loc[concept, "success"] < 0.5 < at.loc["defense=none", "success"]
    crit = pd.read_csv(out / "game_critical.csv").set_index("concept")
    assert np.isnan(crit.loc["collective_leads", "critical_alpha"])
    assert crit.loc["defense=none", "critical_alpha"] == pytest.approx(0.03, abs=0.002)
    # recompute from the results table written by the run: the same equilibria
    res = pd.read_csv(out / "results.csv")
    pay = payoff_table(label_strategies(res, cfg["sweep"]["grid"]), price_success=0.5,
                       price_honest=0.1)
    np.testing.assert_allclose(eq["success"], equilibrium_table(solve_games(pay))["success"])
    for n in names:
        (out / n).unlink()
    rep = _cli("report", str(out / "results.sqlite"))
    assert rep.exit_code == 0, rep.stderr
    assert "0 run now" in rep.stdout and "against a strategic firm" in rep.stdout
    for n in names:
        assert (out / n).read_text() == first[n], n


@pytest.mark.slow  # 189 Adult cells: about 2 minutes on 2 cores
def test_adult_game_example(tmp_path):
    from acakit.analyses import report, run_file

    examples = Path(__file__).resolve().parents[1] / "examples"
    res = run_file(examples / "game_adult.yaml", jobs=2, out_dir=str(tmp_path), progress=False,
                   store=True)
    crit = res.game.critical.set_index("concept")
    # measured: 158 members against the strategic firm (it filters with confident learning),
    # 16 against the undefended one
    assert crit.loc["collective_leads", "critical_members"] > 5 * crit.loc["defense=none",
                                                                            "critical_members"]
    assert crit.loc["collective_leads", "defense_mix"] == "confident_learning"
    assert crit.loc["collective_leads", "honest_dropped"] > 0.01
    again = report(tmp_path / "results.sqlite", out_dir=tmp_path / "report")
    pd.testing.assert_frame_equal(again.game.equilibria, res.game.equilibria)
    assert (tmp_path / "report" / "game_payoffs.png").is_file()


@pytest.mark.parametrize("name", ["acakit.analyses.game", "acakit.engine.game"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
