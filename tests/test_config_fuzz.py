"""Configs generated from the schema of every kind, valid and mutated: never a traceback, only
a config or one line naming the field (ConfigError)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acakit.engine import prepare
from acakit.engine.config import ConfigError
from test_bad_input import BASE  # noqa: I001  (the valid base configs of the catalogue)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(d: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(sorted(BASE)))
    cfg = json.loads(json.dumps(BASE[kind]))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(cfg)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        cur = cfg
        for k in path[:-1]:
            cur = cur[k]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete" and isinstance(cur, dict):
            del cur[path[-1]]
        elif action == "add" and isinstance(cur, dict):
            cur[draw(st.text(min_size=1, max_size=8))] = draw(values)
        else:
            cur[path[-1]] = draw(values)
    return cfg


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_generated_config_is_valid_or_refused_in_one_line(cfg):
    try:
        prepare(cfg)
    except ConfigError as e:
        msg = str(e)
        assert msg and "\n" not in msg and len(msg) < 600, msg
        assert ":" in msg  # "field: what is wrong"
