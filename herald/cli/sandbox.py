"""``herald sandbox klaviyo``: run the local Klaviyo sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import click

from herald.exceptions import ConfigError
from herald.sandbox.config import DEFAULT_API_KEY, ApiKey, SandboxConfig, mask_key, parse_limits


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def sandbox() -> None:
    """Local stand-ins for the services Herald delivers to."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8700, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--limits",
    default="klaviyo",
    show_default=True,
    help="Rate limits: 'klaviyo', 'off', or a multiplier such as 10.",
)
@click.option(
    "--faults",
    default="",
    help="Faults to inject, e.g. '5xx=0.1,429=0.05,"
    "latency=50ms,drop=0.01,timeout=0.01,job_fail=0.02'.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for ids and faults.")
@click.option(
    "--bounce",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of profiles that hard-bounce (and leave every list) when added.",
)
@click.option(
    "--job-tick",
    default=0.05,
    show_default=True,
    type=float,
    help="Seconds between job steps (queued → processing → complete).",
)
@click.option(
    "--api-key",
    default=DEFAULT_API_KEY,
    help="The private API key to accept.",
    envvar="HERALD_SANDBOX_API_KEY",
)
@click.option(
    "--scoped-key",
    "scoped_keys",
    multiple=True,
    metavar="KEY=SCOPE,SCOPE",
    help="Also accept KEY with only these scopes, e.g. 'pk_ro=lists:read'. Repeatable.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the account (profiles, lists, members) in FILE: loaded at start when it "
    "exists, written when the sandbox stops.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def klaviyo(
    host: str,
    port: int,
    limits: str,
    faults: str,
    seed: int,
    bounce: float,
    job_tick: float,
    api_key: str,
    scoped_keys: tuple[str, ...],
    state_file: Path | None,
    log_level: str,
) -> None:
    """Serve a Klaviyo sandbox that follows Klaviyo's API spec (revision 2026-07-15).

    Example:

        herald sandbox klaviyo --port 8700 --limits 10 --faults '5xx=0.05' --seed 7
    """
    from herald.sandbox.server import serve

    config = SandboxConfig(
        api_keys=[ApiKey(api_key), *(_scoped_key(text) for text in scoped_keys)],
        limits=limits,
        faults=faults,
        seed=seed,
        bounce_share=bounce,
        job_tick=job_tick,
    )
    try:
        parse_limits(limits)
        spec = config.fault_spec
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(
        f"Klaviyo sandbox on http://{host}:{port}  key {mask_key(api_key)}"
        f"{f' (+{len(scoped_keys)} scoped)' if scoped_keys else ''}  "
        f"limits {limits}  faults {'on' if spec.active else 'off'}  seed {seed}"
        + (f"  state {state_file}" if state_file else "")
    )
    try:
        serve(config, host, port, log_level, state_file=state_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        msg = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise click.ClickException(msg) from None


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8722, show_default=True, type=int, help="Port to listen on (0: any free)."
)
@click.option(
    "--folder",
    default=".herald/sandbox/sftp",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The sandbox's folder: the host key, a client key, and root/ (profiles/, events/), "
    "the folder served.",
)
@click.option(
    "--authorized-keys",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="OpenSSH authorized_keys file of the public keys that may log in "
    "[default: a key pair generated once in FOLDER/client_key].",
)
@click.option("--username", default="herald", show_default=True, help="The user name to accept.")
@click.option(
    "--klaviyo-url",
    default="http://127.0.0.1:8700",
    show_default=True,
    help="The Klaviyo sandbox to import profiles into (herald sandbox klaviyo).",
)
@click.option(
    "--klaviyo-key-env",
    default="HERALD_SANDBOX_API_KEY",
    show_default=True,
    metavar="VAR",
    help="Environment variable holding its API key (unset: the sandbox's well-known key).",
)
@click.option("--list-id", help="Add every imported profile to this list of the Klaviyo sandbox.")
@click.option("--check-only", is_flag=True, help="Check uploaded CSVs; import nothing.")
def sftp(
    host: str,
    port: int,
    folder: Path,
    authorized_keys: Path | None,
    username: str,
    klaviyo_url: str,
    klaviyo_key_env: str,
    list_id: str | None,
    check_only: bool,
) -> None:
    """Serve a local stand-in for Klaviyo's SFTP import server.

    Each CSV finished in profiles/ is checked as Klaviyo describes (an Email, PhoneNumber or
    ExternalID header; an identifier in every row) and its rows are imported into the Klaviyo
    sandbox; the outcome is written beside it as NAME.result.json. Stop it with Ctrl-C.

    Example:

        herald sandbox sftp --port 8722 --klaviyo-url http://127.0.0.1:8700
    """
    from herald.cli._sandbox_sftp import serve_sftp

    serve_sftp(
        host=host,
        port=port,
        folder=folder,
        authorized_keys=authorized_keys,
        username=username,
        klaviyo_url=None if check_only else klaviyo_url,
        api_key=os.environ.get(klaviyo_key_env) or DEFAULT_API_KEY,
        list_id=list_id,
    )


def _scoped_key(text: str) -> ApiKey:
    key, sep, scopes = text.partition("=")
    if not sep or not key or not scopes:
        msg = "--scoped-key must look like KEY=SCOPE,SCOPE (e.g. pk_ro=lists:read)"
        raise click.BadParameter(msg)
    return ApiKey(key, frozenset(s.strip() for s in scopes.split(",") if s.strip()))


if __name__ == "__main__":
    sandbox()
