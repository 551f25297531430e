"""``acakit app``: serve the planner web app on localhost."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer


def streamlit_command(port: int, address: str = "localhost") -> list[str]:
    """The command line that serves the app (no telemetry, no browser opened)."""
    from acakit.app import main_script

    return [sys.executable, "-m", "streamlit", "run", str(main_script()),
            "--server.port", str(port), "--server.address", address,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--global.developmentMode", "false", "--server.fileWatcherType", "none",
            "--client.toolbarMode", "minimal"]


def register(app: typer.Typer) -> None:
    """Add the ``app`` command to the acakit app."""

    @app.command(name="app")
    def app_cmd(
        port: Annotated[int, typer.Option("--port", help="Local port to serve on.")] = 8501,
        address: Annotated[str, typer.Option(
            "--address", help="Interface to bind (localhost keeps it on this machine).")] = "localhost",
    ) -> None:
        """Open the planner web app: how many of us must act, and how? (extra: app)"""
        from acakit.cli import console, fail

        try:
            import streamlit  # noqa: F401
        except ImportError:
            raise fail("the app needs streamlit: pip install -e \".[app]\" in acakit's checkout"
                       ) from None
        if not 0 < port < 65536:
            raise fail(f"port: {port} is not a TCP port (1-65535)")
        if address not in ("localhost", "127.0.0.1", "::1"):
            from acakit.cli import show_warning

            show_warning(f"--address {address}: the app is reachable from other machines on this "
                         "network, with no login; what is uploaded to it can be read there "
                         "(keep localhost unless you mean it)")
        console.print(f"acakit planner on http://{address}:{port} (Ctrl+C stops it)", highlight=False)
        env = os.environ | {"ACAKIT_CACHE": "0"}  # nothing a user uploads is cached on disk
        cmd = streamlit_command(port, address)
        if os.name == "posix":  # become the server, so a signal to this process reaches it
            sys.stdout.flush()
            os.execve(cmd[0], cmd, env)
        try:
            code = subprocess.call(cmd, env=env)
        except KeyboardInterrupt:
            code = 0
        raise typer.Exit(code)
