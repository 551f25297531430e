"""The one-line errors of a config: :class:`ConfigError` and how a pydantic error becomes one line."""

from __future__ import annotations

import re

from pydantic import (
    ValidationError,
)

from acakit._safe import visible


class ConfigError(ValueError):
    """A config is invalid; the message is one line naming the field.

    Line breaks inside the message (a key or value of the user's that holds one) are shown as
    ``\\n``, so the message stays one line whatever the config holds.
    """

    #: The longest message; longer ones (a long list of values) are cut with "...".
    MAX_LEN = 500

    def __init__(self, message: object = "") -> None:
        text = visible(message)  # line breaks, escape sequences: shown, never obeyed
        super().__init__(text if len(text) <= self.MAX_LEN else text[:self.MAX_LEN - 3] + "...")


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """First error of a pydantic ``ValidationError`` as ``field: message (got value)``."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"] if p not in ("function-after",))
    from acakit.registry import SIGNALS

    tags = {*SIGNALS.builtins(), "plugin"}  # the signal union's member names, not fields
    loc = ".".join(p for p in loc.split(".") if p not in tags or p == loc)
    msg = e["msg"].removeprefix("Value error, ")
    m = re.match(r"^([a-z_]+(?:\.[a-z_0-9]+)*): ", msg)
    if loc and m and e["type"] == "value_error" and not loc.endswith(m.group(1)):
        loc, msg = f"{loc}.{m.group(1)}", msg[m.end():]  # "collective: target: ..." -> one path
    where = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "config"
    got = e.get("input")
    text = repr(got)
    text = text if len(text) <= 80 else text[:77] + "..."
    shown = "" if isinstance(got, dict) or got is None or repr(got) in msg else f" (got {text})"
    return f"{where}: {msg}{shown}"
