"""API keys: hashed at rest, compared in constant time, each with a role."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

Role = Literal["router", "admin"]
ROLES: tuple[Role, ...] = ("router", "admin")
#: Shortest key accepted in clear (a pre-hashed key's length cannot be checked).
MIN_KEY_CHARS = 16

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key; its role is router or admin."
)


def hash_key(key: str) -> str:
    """Hex sha256 of a key: the only form a key is kept in."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyRegistry:
    """Maps hashed keys to roles; never holds a key in clear."""

    def __init__(self, hashed: dict[str, Role] | None = None) -> None:
        self._entries: list[tuple[bytes, Role]] = [
            (h.encode("ascii"), role) for h, role in (hashed or {}).items()
        ]

    @classmethod
    def from_spec(cls, spec: str) -> ApiKeyRegistry:
        """Parse ``"router:<key>,admin:<key>"`` (or ``role:sha256:<hex>`` for pre-hashed keys).

        Refused, naming the entry (never the key): a key shorter than :data:`MIN_KEY_CHARS`, a
        key with whitespace or control characters (``router: abc`` would store a key no client
        sends), the same key listed twice (one key has one role).
        """
        hashed: dict[str, Role] = {}
        for i, raw in enumerate(spec.split(",")):
            item = raw.strip()
            if not item:
                continue
            role, sep, key = item.partition(":")
            role = role.strip()
            if not sep or not key:
                raise ValueError(f"TRIAGE_API_KEYS entry {i + 1} is not role:key")
            if role not in ROLES:
                raise ValueError(
                    f"TRIAGE_API_KEYS entry {i + 1} has unknown role {role!r}; use one of {ROLES}"
                )
            if key.startswith("sha256:"):
                digest = key[len("sha256:"):].lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise ValueError(f"TRIAGE_API_KEYS entry {i + 1}: sha256 digest must be 64 hex")
            else:
                if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in key):
                    raise ValueError(f"TRIAGE_API_KEYS entry {i + 1}: the key contains whitespace or control "
                                     "characters (a client cannot send it as given)")
                if len(key) < MIN_KEY_CHARS:
                    raise ValueError(f"TRIAGE_API_KEYS entry {i + 1}: the key is shorter than {MIN_KEY_CHARS} "
                                     "characters")
                digest = hash_key(key)
            if digest in hashed:
                raise ValueError(f"TRIAGE_API_KEYS entry {i + 1}: the same key is listed twice")
            hashed[digest] = role  # type: ignore[assignment]
        return cls(hashed)

    def __len__(self) -> int:
        return len(self._entries)

    def role_for(self, key: str) -> Role | None:
        """Role of a presented key, or None. Compares against every entry in constant time."""
        return self.identify(key)[0]

    def identify(self, key: str) -> tuple[Role | None, str]:
        """(role or None, the key's fingerprint: the first 12 hex digits of its sha256), from one
        hash of the presented key, compared against every entry in constant time."""
        digest = hash_key(key)
        presented = digest.encode("ascii")
        found: Role | None = None
        for entry, role in self._entries:
            if hmac.compare_digest(presented, entry):
                found = role
        return found, digest[:12]


def _authenticate(request: Request, key: str | None) -> Role:
    role = getattr(request.state, "role", None)
    if role is not None:  # the edge guard (service.api.guard) checked this request's key already
        return role
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing API key (X-API-Key header)",
            headers={"WWW-Authenticate": "APIKey"},
        )
    role = request.app.state.api_keys.role_for(key)
    request.state.key_fingerprint = hash_key(key)[:12]
    if role is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="unknown API key",
            headers={"WWW-Authenticate": "APIKey"},
        )
    return role


async def require_router(
    request: Request, key: Annotated[str | None, Depends(api_key_header)]
) -> Role:
    """Any valid key: the router role, or admin (admin may do everything)."""
    return _authenticate(request, key)


async def require_admin(
    request: Request, key: Annotated[str | None, Depends(api_key_header)]
) -> Role:
    """Admin keys only."""
    role = _authenticate(request, key)
    if role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this endpoint needs an admin key")
    return role
