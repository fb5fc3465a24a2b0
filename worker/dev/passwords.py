"""The dev servers' passwords: random, kept 0600 beside their data, never on a command line.

Their servers listen on loopback, where every local account can connect: the password is
what keeps another account out of make run's Postgres (a superuser) and Redis.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_URL_PASSWORD = re.compile(r"(//[^:/@]*):[^@/]*@")


def kept_beside(data_dir: Path) -> Path:
    """Where the password of the server in data_dir is kept: data_dir.password."""
    return data_dir.with_name(data_dir.name + ".password")


def read(path: Path) -> str | None:
    """The password kept at path (made private again if it was not), None when missing."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    path.chmod(0o600)
    return text or None


def make() -> str:
    """A new random password; its characters need no quoting in a URL or a config file."""
    return secrets.token_urlsafe(24)


def new(path: Path) -> str:
    """A new random password, kept at path."""
    return keep(path, make())


def keep(path: Path, password: str) -> str:
    """Write password to path (0600 from its first byte), in place of any; return it."""
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    staging.rename(path)
    return password


def redacted(url: str) -> str:
    """url with its password shown as ***: for a terminal, where others may look."""
    return _URL_PASSWORD.sub(r"\1:***@", url)
