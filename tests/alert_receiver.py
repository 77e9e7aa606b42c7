"""For the alerts tests: a real webhook receiver on a free loopback port, which records each
request and answers with the statuses it is given, in order (the last one repeats); and a
run notice."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from herald.alerts import RunNotice

SECRET = "whsec_9f8e7d6c5b4a39281706f5e4"


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=lambda: [204])
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self) -> int:
        index = min(len(self.requests) - 1, len(self.statuses) - 1)
        return self.statuses[index]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(Received(time.monotonic(), dict(self.headers), body))
            if receiver.hang:
                receiver.release.wait(receiver.hang)
            self.send_response(receiver.answer())
            for name, value in receiver.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test reads `requests`, not stderr

    return Handler


@contextlib.contextmanager
def serve() -> Iterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 until the block ends."""
    box = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    server.daemon_threads = True
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0123/B0456/path-token"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield box
    finally:
        box.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def notice(**changes: object) -> RunNotice:
    start = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)
    values: dict[str, object] = {
        "event": "failure",
        "run_id": "run_20261206T030000_a1b2c3",
        "campaign": "CA Winback Offer",
        "status": "error",
        "trigger": "schedule",
        "started_at": start,
        "finished_at": start + dt.timedelta(seconds=192),
        "seconds": 192.0,
        "estimate_seconds": 150.0,
        "errors": {"klaviyo": "HTTP 400 invalid: bad list"},
        "counts": {"recipients": 1200, "lists": {"CA_Winback_Offer_A": 600}},
    }
    values.update(changes)
    return RunNotice(**values)  # type: ignore[arg-type]
