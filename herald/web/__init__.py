"""The web app: server-rendered pages over the library (DESIGN §2), started by `herald web`.

Build it with :func:`create_app`; `herald.web.render` holds what each page uses and
`herald.web.security` the login, role and CSRF middleware every request passes through.
"""

from __future__ import annotations

from herald.web.app import create_app

__all__ = ["create_app"]
