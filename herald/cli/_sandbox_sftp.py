"""``herald sandbox sftp``: serve the SFTP sandbox in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from importlib.resources import files
from pathlib import Path
from types import FrameType

import click

from herald.exceptions import ConfigError
from herald.redact import install_log_redaction
from herald.sandbox.config import mask_key
from herald.sandbox.sftp import KlaviyoTarget, SftpSandbox, ensure_key

CLIENT_KEY = "client_key"
"""The key pair generated in the sandbox's folder when no --authorized-keys is given."""


def serve_sftp(
    *,
    host: str,
    port: int,
    folder: Path,
    authorized_keys: Path | None,
    username: str,
    klaviyo_url: str | None,
    api_key: str,
    list_id: str | None,
) -> None:
    """Start the SFTP sandbox, say how to use it, and serve until stopped.

    Raises:
        click.ClickException: a key cannot be read or the port cannot be bound.
    """
    target = KlaviyoTarget(klaviyo_url, api_key, list_id) if klaviyo_url else None
    try:
        keys = authorized_keys or [ensure_key(folder / CLIENT_KEY)]
        server = SftpSandbox(
            folder,
            authorized_keys=keys,
            klaviyo=target,
            username=username,
            host=host,
            port=port,
        )
        server.start()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        msg = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise click.ClickException(msg) from None
    _show_logs()
    click.echo(_banner(server, target, None if authorized_keys else folder / CLIENT_KEY))
    try:
        _serve_until_stopped()
    finally:
        click.echo("Stopping: the import under way finishes first.", err=True)
        server.stop()


def _banner(server: SftpSandbox, target: KlaviyoTarget | None, client_key: Path | None) -> str:
    where = (
        f"imports profiles into the Klaviyo sandbox at {target.url} (key {mask_key(target.api_key)}"
        f"{f', list {target.list_id}' if target.list_id else ''})"
        if target
        else "checks uploaded CSVs only (--check-only)"
    )
    key = (
        f'"{client_key}"'
        if client_key
        else '"PATH"                 # the private key of an authorized public key'
    )
    return "\n".join(
        [
            f"SFTP sandbox on {server.host}:{server.port}  user {server.username}  "
            f"host key {server.fingerprint}",
            f"Serving {server.root} (profiles/, events/); {where}.",
            "Results are written beside each file as NAME.result.json. Stop with Ctrl-C.",
            "",
            "In herald.toml:",
            "",
            destination_table(server, key).rstrip("\n"),
        ]
    )


def destination_table(server: SftpSandbox, key: str) -> str:
    """The herald.toml table of a destination that uploads to ``server`` (``key``: the
    private key setting's value, quoted)."""
    template = files("herald.sandbox").joinpath("sftp_destination.toml").read_text("utf-8")
    return template.format(
        host=server.host,
        port=server.port,
        username=server.username,
        key=key,
        fingerprint=server.fingerprint,
    )


def _show_logs() -> None:
    """One line per upload and per import on stderr (redacted, like every Herald log)."""
    install_log_redaction()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("herald.sandbox.sftp")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _serve_until_stopped() -> None:
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
