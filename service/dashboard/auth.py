"""Dashboard sign-in: scrypt password hashes, a signed session cookie, a CSRF token per session.

Users come from ``TRIAGE_DASHBOARD_USERS`` (``role:user:scrypt$...``, roles viewer and admin);
passwords are never stored or logged in clear. The session is an itsdangerous-signed, timestamped
cookie (HttpOnly, SameSite=Strict, Secure unless turned off) carrying the user name and a random
CSRF token; the role is looked up in the configuration on every request, so removing a user ends
their sessions. Every POST must echo the session's CSRF token in a form field.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger("service")

DashboardRole = Literal["viewer", "admin"]
DASHBOARD_ROLES: tuple[DashboardRole, ...] = ("viewer", "admin")
COOKIE = "triage_dashboard"
_SALT = "triage-dashboard-session"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DUMMY = None  # a hash to compare against for unknown users (same time as a known one)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex): the only form a dashboard password is kept in."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``hash_password`` string (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), dklen=32,
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class DashboardUser:
    name: str
    role: DashboardRole
    password_hash: str


class UserRegistry:
    """Dashboard users by name, parsed from ``viewer:alice:scrypt$...,admin:bob:scrypt$...``."""

    def __init__(self, users: dict[str, DashboardUser] | None = None) -> None:
        self._users = dict(users or {})

    @classmethod
    def from_spec(cls, spec: str) -> UserRegistry:
        users: dict[str, DashboardUser] = {}
        for i, item in enumerate(p.strip() for p in spec.split(",")):
            if not item:
                continue
            parts = item.split(":", 2)
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"TRIAGE_DASHBOARD_USERS entry {i + 1} is not role:user:hash")
            role, name, hashed = parts
            if role not in DASHBOARD_ROLES:
                raise ValueError(f"TRIAGE_DASHBOARD_USERS entry {i + 1} has unknown role {role!r}; "
                                 f"use one of {DASHBOARD_ROLES}")
            if not hashed.startswith("scrypt$") or hashed.count("$") != 5:
                raise ValueError(f"TRIAGE_DASHBOARD_USERS entry {i + 1} ({name!r}): the hash must "
                                 "come from `python -m service.dashboard.passwords`")
            if name in users:
                raise ValueError(f"TRIAGE_DASHBOARD_USERS names user {name!r} twice")
            users[name] = DashboardUser(name, role, hashed)  # type: ignore[arg-type]
        return cls(users)

    def __len__(self) -> int:
        return len(self._users)

    def get(self, name: str) -> DashboardUser | None:
        return self._users.get(name)

    def authenticate(self, name: str, password: str) -> DashboardUser | None:
        """The user when the password matches; an unknown name costs the same scrypt call."""
        global _DUMMY
        user = self._users.get(name)
        if user is None:
            _DUMMY = _DUMMY or hash_password("not-a-user", salt=b"\0" * 16)
            check_password(password, _DUMMY)
            return None
        return user if check_password(password, user.password_hash) else None


@dataclass(frozen=True)
class Session:
    user: str
    role: DashboardRole
    csrf: str


class SessionSigner:
    """Issues and reads the signed session cookie."""

    def __init__(self, secret: str, max_age_s: int) -> None:
        if not secret:
            secret = secrets.token_urlsafe(32)
            log.warning("TRIAGE_DASHBOARD_SECRET is not set: dashboard sessions are signed with a "
                        "per-process secret (they end at a restart and are not shared by workers)")
        elif len(secret) < 32:
            raise ValueError("TRIAGE_DASHBOARD_SECRET must have at least 32 characters")
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.max_age_s = max_age_s

    def issue(self, user: DashboardUser) -> tuple[str, Session]:
        session = Session(user.name, user.role, secrets.token_urlsafe(24))
        return self._serializer.dumps({"u": user.name, "c": session.csrf}), session

    def read(self, cookie: str | None, users: UserRegistry) -> Session | None:
        """The session of a valid, unexpired cookie whose user is still configured, else None."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:  # also SignatureExpired
            return None
        user = users.get(str(data.get("u", ""))) if isinstance(data, dict) else None
        if user is None or not isinstance(data.get("c"), str):
            return None
        return Session(user.name, user.role, data["c"])


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(session.csrf, presented or "")
