"""A store belongs to one experiment: what makes two configs the same experiment, the stored
config of an extended store, and the store's side files read and put back without
following a link."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from acakit.engine.results import META_CONFIG, META_KIND


def experiment_fingerprint(cfg: Any) -> str:
    """What makes two configs the same experiment: the hash of the validated config without its
    ``output`` section (where results go is not what they are) nor its ``labels`` (what a legend
    calls things) and, for fairness, the analyses
    asked for (one store serves ``acakit fairness alpha`` and ``pareto``)."""
    from acakit.engine.config import spec_hash

    return spec_hash(cfg.model_dump(mode="json", exclude={"output", "analyses", "labels"}))


def merged_analyses(meta: dict[str, str | None], mod: Any, cfg: Any) -> Any:
    """``cfg`` with the analyses the store's config already ran added (a fairness config run
    as ``acakit fairness alpha`` then ``pareto``: the store keeps both, report redraws both)."""
    import json

    raw = meta.get(META_CONFIG)
    if raw is None or not hasattr(cfg, "analyses"):
        return cfg
    try:
        before = list(getattr(mod.parse_config(json.loads(raw)), "analyses", []))
    except Exception:  # an unreadable stored config: this run's stands
        return cfg
    merged = list(dict.fromkeys([*before, *cfg.analyses]))
    return cfg if merged == list(cfg.analyses) else cfg.model_copy(update={"analyses": merged})


def foreign_experiment(meta: dict[str, str | None], mod: Any, kind: str, cfg: Any) -> str:
    """``""`` when a store's meta (kind, config) is empty or this experiment's; else a short
    description of the experiment that owns it. The stored config is read through today's
    schema, so a store made by an older acakit with the same config still matches."""
    import json

    from acakit.engine.config import ConfigError

    stored_kind, raw = meta.get(META_KIND), meta.get(META_CONFIG)
    if stored_kind is None or raw is None:
        return ""
    try:
        data = json.loads(raw)
        name = str(data.get("name", "?")) if isinstance(data, dict) else "?"
    except ValueError:
        return f"kind {stored_kind}, an unreadable config"
    if stored_kind != kind:
        return f"kind {stored_kind}, config {name!r}"
    try:
        stored = mod.parse_config(data)
    except (ConfigError, ValueError):
        return f"kind {stored_kind}, config {name!r} (not valid today)"
    if experiment_fingerprint(stored) == experiment_fingerprint(cfg):
        return ""
    return f"kind {stored_kind}, config {name!r} with other settings"


#: Store meta key listing the configs a store was extended with (``--extend``).
META_EXTENSIONS = "extensions"


def add_extension(st: Any, kind: str, cfg: Any) -> None:
    """List ``cfg`` among the store's extensions (once)."""
    import json

    raw = st.get_meta(META_EXTENSIONS)
    try:
        items = json.loads(raw) if raw else []
    except ValueError:
        items = []
    entry = {"experiment": kind, "config": cfg.model_dump(mode="json")}
    if entry not in items:
        st.set_meta(META_EXTENSIONS, json.dumps([*items, entry], sort_keys=True))


def read_nofollow(path: Path) -> bytes | None:
    """A regular file's bytes, never through a link (None if absent or not one)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(4096)


def write_nofollow(path: Path, data: bytes) -> None:
    """Put ``data`` back into an existing regular file, never through a link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(data)
