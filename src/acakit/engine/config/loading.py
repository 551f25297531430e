"""Reading a config file (YAML or TOML, size- and alias-bounded) and parsing it into models."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from acakit.engine.config.checks import check_cells_against_data
from acakit.engine.config.errors import ConfigError, format_validation_error
from acakit.engine.config.experiment import CellSpec, ExperimentConfig
from acakit.engine.config.grid import expand

#: The largest config file acakit reads (a config is a few hundred lines; this is generous).
MAX_CONFIG_BYTES = 1 << 20


#: The most YAML nodes a config may expand to through aliases (``*name``): generous for any
#: real config (the largest example has a few hundred), fatal to an "alias bomb".
MAX_CONFIG_NODES = 100_000


def _expanded_size(node: Any, memo: dict[int, int], limit: int) -> int:
    """Nodes of ``node`` with every alias expanded, computed without expanding (memo by id)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a cycle counts once (PyYAML refuses recursive structures later anyway)
    n = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            n += _expanded_size(child, memo, limit)
            if n > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            n += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if n > limit:
                break
    memo[key] = n
    return n


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no Python objects) with a size limit and no duplicate keys.

    Anchors and aliases (``&name``, ``*name``) may be used, but the document must expand to at
    most :data:`MAX_CONFIG_NODES` nodes: a few hundred bytes of nested aliases (an "alias bomb")
    would otherwise expand to gigabytes. A key given twice in one mapping is refused instead of
    the last one silently winning.
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # an unhashable key: let PyYAML's own error say so
            if key in seen:
                raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: key {key!r} is given "
                                     "twice in the same mapping")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {}, MAX_CONFIG_NODES)
        if size > MAX_CONFIG_NODES:
            raise yaml.YAMLError(f"it expands to more than {MAX_CONFIG_NODES:,} values through "
                                 "YAML aliases (*name); write it out or use fewer aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML or TOML file into a dict (one-line error if unreadable).

    The file must be UTF-8, at most :data:`MAX_CONFIG_BYTES` long; YAML is read with the safe
    loader (no Python objects), at most :data:`MAX_CONFIG_NODES` values once aliases are
    expanded, without duplicate keys.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config: file {str(p)!r} does not exist")
    if not p.is_file():
        raise ConfigError(f"config: {str(p)!r} is not a regular file (a YAML or TOML config)")
    size = p.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config: {p.name} is {size:,} bytes; a config may have at most "
                          f"{MAX_CONFIG_BYTES:,}")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config: {p.name} is not UTF-8 text (byte 0x{data[e.start]:02x} at "
                          f"offset {e.start})") from None
    try:
        raw = tomllib.loads(text) if p.suffix == ".toml" else _load_yaml(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"config: {p.name} is not valid {p.suffix[1:].upper()}: "
                          f"{str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config: {p.name} must hold a mapping at the top level")
    return raw


def parse_config(raw: Mapping[str, Any]) -> ExperimentConfig:
    """Validate a config dict (no data is loaded).

    ``collective: {...}`` is the short form of ``collectives: [{...}]``: a single-collective
    config is the engine's cell with M = 1 collective, and either spelling is accepted.
    """
    raw = dict(raw)
    if "collectives" in raw:
        items = raw.pop("collectives")
        if "collective" in raw:
            raise ConfigError("collectives: give either collective (one) or collectives (a list), "
                              "not both")
        if not isinstance(items, list) or len(items) != 1:
            n = len(items) if isinstance(items, list) else type(items).__name__
            raise ConfigError(f"collectives: a config with experiment: collective holds exactly "
                              f"one collective (got {n}); for several use experiment: multi")
        raw["collective"] = items[0]
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e)) from None


def load_config(path: str | Path) -> tuple[ExperimentConfig, list[CellSpec]]:
    """Read, validate and expand a config file, checking it against the data.

    Returns
    -------
    config : ExperimentConfig
    cells : list of CellSpec
    """
    config = parse_config(read_config(path))
    cells = expand(config)
    check_cells_against_data(cells)
    return config, cells
