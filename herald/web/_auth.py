"""Who may sign in to the web app, and the sessions of those who did.

Two ways in: the token (``HERALD_WEB_TOKEN``, else the one ``herald web`` generated at first
start and printed once; only its SHA-256 is kept, in ``.herald/web_token``), which signs in as
the editor ``admin``; and the named users of the state store, whose argon2 hashes
`hash_password` makes.

Sessions live in the server's memory under an unguessable random id, the only thing the
cookie holds: signing out, a removed user or a restart ends them at once (there is nothing a
stolen cookie could outlive). Every comparison of a secret is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from herald.atomic import atomic_file
from herald.exceptions import ConfigError
from herald.redact import register_secret
from herald.state.models import WebRole as Role

TOKEN_ENV = "HERALD_WEB_TOKEN"
"""The environment variable that sets the sign-in token (instead of the generated one)."""
TOKEN_FILE = "web_token"
"""The file in ``.herald/`` holding the SHA-256 of the generated token."""
TOKEN_USER = "admin"
"""The name the token signs in as (an editor)."""

_HASHER = PasswordHasher()
# Verifying against this when no such user exists takes as long as a real check, so the time
# of a refusal does not tell whether the name exists.
_DUMMY_HASH = _HASHER.hash("no such user")


def hash_password(password: str) -> str:
    """The argon2 hash of ``password``, for `StateStore.save_web_user`."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (None: no such user, same cost)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    # The token is 192 random bits: a fast hash is enough, unlike a person's password.
    return hashlib.sha256(token.encode()).hexdigest()


MIN_TOKEN = 16
"""The fewest characters ``HERALD_WEB_TOKEN`` may have."""


def check_env_token() -> None:
    """Refuse a ``HERALD_WEB_TOKEN`` too short to be a secret, and keep it out of logs.

    Raises:
        ConfigError: naming the variable and what to do.
    """
    token = os.environ.get(TOKEN_ENV)
    if token is None:
        return
    if len(token.strip()) < MIN_TOKEN:
        msg = (
            f"{TOKEN_ENV} must have at least {MIN_TOKEN} characters: make one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(24))"`'
        )
        raise ConfigError(msg)
    register_secret(token)


def ensure_token(state_dir: Path, *, renew: bool = False) -> str | None:
    """Generate the sign-in token at first start (or when ``renew``) and keep its hash.

    Returns:
        The new token, to be shown once; None when one exists already or ``HERALD_WEB_TOKEN``
        is set.
    """
    path = state_dir / TOKEN_FILE
    if os.environ.get(TOKEN_ENV) or (path.exists() and not renew):
        return None
    token = secrets.token_urlsafe(24)
    with atomic_file(path) as out:
        out.write(_digest(token) + "\n")
    path.chmod(0o600)
    return token


def token_matches(state_dir: Path, given: str) -> bool:
    """Whether ``given`` is the sign-in token (the environment's, else the generated one)."""
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        expected = _digest(from_env)
    else:
        try:
            expected = (state_dir / TOKEN_FILE).read_text(encoding="ascii").strip()
        except OSError:
            return False
    return hmac.compare_digest(_digest(given), expected)


@dataclass(frozen=True)
class Session:
    """A signed-in person: their name and role, and the session's CSRF token.

    Attributes:
        name: the user's name (``admin`` for the token).
        role: ``viewer`` looks; ``editor`` edits, runs and schedules.
        csrf: the token every state-changing request of this session must carry.
        named: whether a named user of the state store (checked again on each request).
        expires: when the session ends (``time.monotonic`` seconds).
    """

    name: str
    role: Role
    csrf: str
    named: bool
    expires: float

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


@dataclass
class Sessions:
    """The open sessions, by their cookie's id; safe from any thread."""

    lifetime: float
    """Seconds a session lasts after sign-in."""
    clock: Callable[[], float] = time.monotonic
    _open: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, name: str, role: Role, *, named: bool) -> str:
        """Open a session; its id, for the cookie."""
        now = self.clock()
        session = Session(name, role, secrets.token_urlsafe(32), named, now + self.lifetime)
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._open = {k: s for k, s in self._open.items() if s.expires > now}
            self._open[sid] = session
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The session of a cookie's id, None when unknown or expired."""
        if not sid:
            return None
        with self._lock:
            session = self._open.get(sid)
        if session is None or session.expires <= self.clock():
            return None
        return session

    def replace(self, sid: str, session: Session) -> None:
        """Keep ``session`` (a role changed meanwhile) under ``sid``."""
        with self._lock:
            self._open[sid] = session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._open.pop(sid or "", None)


_MAX_CLIENTS = 10_000


@dataclass
class RateLimit:
    """At most ``attempts`` sign-in attempts per ``window`` seconds from one client."""

    attempts: int
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, client: str) -> bool:
        """Count an attempt from ``client``; whether it is within the limit."""
        now = self.clock()
        with self._lock:
            if len(self._seen) > _MAX_CLIENTS:  # forget the clients quiet for a window
                self._seen = {
                    k: d for k, d in self._seen.items() if d and d[-1] > now - self.window
                }
            recent = self._seen.setdefault(client, deque())
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.attempts:
                return False
            recent.append(now)
            return True
