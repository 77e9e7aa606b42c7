"""Run the sandbox with uvicorn: in a background thread (``SandboxServer``) or in the foreground
(``serve``, used by the CLI)."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import h11
import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from herald.sandbox import persist
from herald.sandbox.app import DroppedConnectionError, Sandbox, create_app
from herald.sandbox.config import SandboxConfig
from herald.sandbox.state import SandboxState, Violation

#: Connections (and requests) served at once; uvicorn answers 503 beyond.
LIMIT_CONCURRENCY = 1000


class _HideInjectedDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for each connection the sandbox drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnectionError)


def _quiet_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideInjectedDrops) for f in logger.filters):
        logger.addFilter(_HideInjectedDrops())


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket with Nagle's algorithm off.

    Accepted connections inherit TCP_NODELAY. Without it every response waits about 40 ms for
    the client's delayed ACK, because uvicorn writes the headers and the body separately.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()  # a taken port: the caller may try another
        raise
    return sock


class StallGuard(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, plus a deadline for each request to arrive whole.

    uvicorn closes idle keep-alive connections, but not one that sent part of a request and
    stalled, or connected and sent nothing: each would hold one of the ``limit_concurrency``
    slots for good, and once they are all taken every real request is answered 503. A
    request not received whole within ``read_timeout`` seconds of its first byte (or of the
    connection, for the first) has its connection closed. A request received whole is never
    cut, however long the sandbox takes to answer it (the ``timeout`` fault relies on that).
    """

    read_timeout: float = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            self._arm()  # a new request begins
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            self._arm()  # the sandbox holds the body back (its handler is busy), not the client
        elif self._incomplete():
            self.transport.close()

    def _incomplete(self) -> bool:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return True
        # Idle with bytes of a request line or headers waiting, or never sent anything.
        return state is h11.IDLE and (bool(self.conn.trailing_data[0]) or self.cycle is None)


def _uvicorn_config(config: SandboxConfig, log_level: str) -> tuple[uvicorn.Config, Sandbox]:
    app = create_app(config)
    _quiet_drops()
    guard = type("StallGuard", (StallGuard,), {"read_timeout": config.read_timeout})
    # A short graceful shutdown: a request held by the timeout fault must not block stop().
    uv = uvicorn.Config(
        app,
        http=guard,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=1,
        limit_concurrency=LIMIT_CONCURRENCY,
    )
    return uv, app.state.sandbox


class SandboxServer:
    """A sandbox on 127.0.0.1 in a background thread, for tests, benchmarks and demos.

    Example:
        >>> with SandboxServer(SandboxConfig(limits="off")) as server:
        ...     httpx.get(f"{server.url}/api/lists", headers=server.headers()).status_code
        200

    Args:
        config: the sandbox's settings.
        host: the interface to listen on.
        port: the port; 0 picks a free one.
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self._requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.sandbox: Sandbox | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is serving (between ``start()`` and ``stop()``)."""
        return self._server is not None

    @property
    def state(self) -> SandboxState:
        """The inspection API: lists, members, profiles, jobs and the request log."""
        if self.sandbox is None:
            msg = "the sandbox is not running; call start() or use it as a context manager"
            raise RuntimeError(msg)
        return self.sandbox.state

    def violations(self) -> list[Violation]:
        """Every request so far that broke Klaviyo's spec (see ``SandboxState.violations``);
        readable after ``stop()`` too."""
        return self.state.violations()

    def headers(self, key: str | None = None) -> dict[str, str]:
        """Headers for a valid API call: auth (first configured key by default) and revision."""
        from herald.sandbox.spec import revision

        secret = key or self.config.api_keys[0].key
        return {
            "Authorization": f"Klaviyo-API-Key {secret}",
            "revision": revision(),
            "accept": "application/vnd.api+json",
            "content-type": "application/vnd.api+json",
        }

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client for this sandbox with valid headers (see ``headers``).

        It turns Nagle's algorithm off: httpx writes a POST's headers and body separately,
        and on loopback Nagle plus delayed ACKs adds 40 ms to every such request.
        """
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        kwargs.setdefault("timeout", 30)
        return httpx.Client(
            base_url=self.url, headers=self.headers(key), transport=transport, **kwargs
        )

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving and wait until the port accepts connections.

        Raises:
            RuntimeError: when uvicorn does not start within ``timeout`` seconds.
        """
        sock = listen_socket(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        uv, self.sandbox = _uvicorn_config(self.config, "warning")
        self._server = uvicorn.Server(uv)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="herald-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                msg = f"the sandbox did not start on {self.url} within {timeout} s"
                raise RuntimeError(msg)
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 8700,
    log_level: str = "info",
    state_file: Path | None = None,
) -> None:
    """Serve the sandbox in the foreground until interrupted (the CLI's ``sandbox klaviyo``).

    The process is the sandbox's own, so it tunes the garbage collector: with millions of
    profile objects alive, the default thresholds start a full collection every few bulk
    requests, and that costs more than parsing them (measured: 15 → 20 requests/s). It also
    freezes the heap as bulk bodies and profiles pile up (``Sandbox.settle``).

    With ``state_file``, the account (profiles, lists, members) is loaded from it at start,
    when it exists, and written to it when the server stops (``herald.sandbox.persist``).
    """
    gc.set_threshold(50_000, 20, 100)
    uv, sandbox = _uvicorn_config(config, log_level)
    if state_file is not None:
        persist.load(sandbox.state, state_file)
    sandbox.freeze_gc = True
    try:
        uvicorn.Server(uv).run(sockets=[listen_socket(host, port)])
    finally:
        # uvicorn returns here on Ctrl-C and SIGTERM, after its graceful shutdown.
        if state_file is not None:
            persist.save(sandbox.state, state_file)
