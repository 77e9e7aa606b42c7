"""`StateStore`'s methods for the web app's named users (their password hashes, never the
passwords: hashing is the web app's, with argon2)."""

from __future__ import annotations

import sqlalchemy as sa

from herald.exceptions import NotFoundError
from herald.state import _queries as q
from herald.state._rules import check_choice
from herald.state._schema import WEB_ROLES
from herald.state._schema import web_users as users_t
from herald.state._store_base import StoreBase
from herald.state.models import WebRole, WebUser


class UsersMixin(StoreBase):
    """The web app's users: a name, an argon2 password hash and a role."""

    def save_web_user(self, name: str, password_hash: str, role: WebRole) -> WebUser:
        """Create the user ``name``, or replace its password hash and role.

        Raises:
            ValueError: an empty name or hash, or a role that is not viewer or editor.
        """
        check_choice("web user role", role, WEB_ROLES)
        if not name.strip() or not password_hash:
            msg = "a web user needs a name and a password hash"
            raise ValueError(msg)

        def save(conn: sa.Connection) -> WebUser:
            at = q.now()
            updated = conn.execute(
                users_t.update()
                .where(users_t.c.name == name)
                .values(password_hash=password_hash, role=role, updated_at=at)
            ).rowcount
            if not updated:
                conn.execute(
                    users_t.insert().values(
                        name=name,
                        password_hash=password_hash,
                        role=role,
                        created_at=at,
                        updated_at=at,
                    )
                )
            return _user(conn, name)

        return self._write(save)

    def web_user(self, name: str) -> WebUser | None:
        """The user ``name``, None when there is none."""
        return self._read(lambda conn: _find(conn, name))

    def web_users(self) -> list[WebUser]:
        """Every web user, by name."""
        query = sa.select(users_t).order_by(users_t.c.name)
        return self._read(lambda conn: [_to_user(row) for row in conn.execute(query)])

    def delete_web_user(self, name: str) -> None:
        """Remove the user ``name``.

        Raises:
            NotFoundError: there is no such user.
        """

        def delete(conn: sa.Connection) -> None:
            if not conn.execute(users_t.delete().where(users_t.c.name == name)).rowcount:
                msg = f"there is no web user {name!r}; `herald web users` lists them"
                raise NotFoundError(msg)

        self._write(delete)


def _find(conn: sa.Connection, name: str) -> WebUser | None:
    row = conn.execute(sa.select(users_t).where(users_t.c.name == name)).one_or_none()
    return None if row is None else _to_user(row)


def _user(conn: sa.Connection, name: str) -> WebUser:
    found = _find(conn, name)
    assert found is not None
    return found


def _to_user(row: q.Row) -> WebUser:
    return WebUser(row.name, row.password_hash, row.role, row.created_at, row.updated_at)
