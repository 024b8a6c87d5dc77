"""Hash a dashboard password: ``python -m service.dashboard.passwords [viewer|admin] NAME``.

Reads the password without echo (or from stdin when piped) and prints the
``role:name:scrypt$...`` entry for ``TRIAGE_DASHBOARD_USERS``.
"""

from __future__ import annotations

import getpass
import sys

from service.dashboard.auth import DASHBOARD_ROLES, hash_password


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in DASHBOARD_ROLES or ":" in args[1] or "," in args[1]:
        print(f"usage: python -m service.dashboard.passwords {{{'|'.join(DASHBOARD_ROLES)}}} NAME",
              file=sys.stderr)
        return 2
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    print(f"{args[0]}:{args[1]}:{hash_password(password)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
