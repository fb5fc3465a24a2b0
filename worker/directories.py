"""Directories a process writes its state to: made 0700, and refused unless this user's own.

A directory another account owns, or may write to, lets that account plant what the
process then trusts: a pickled beat schedule it runs, metrics files it sums, symlinks it
writes through. Whoever set the variable learns which in one line.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

# Mode bits that let others in: any of them for a private directory, write for the rest.
PRIVATE_BITS = 0o077
WRITE_BITS = 0o022


class DirectoryRefused(RuntimeError):
    """The directory cannot be used safely; the message names the variable that chose it."""


def own_directory(path: Path, variable: str, *, private: bool) -> Path:
    """path, made (with any missing parent) 0700 when missing, then checked: a directory this
    user owns, even where it is a symlink, that others cannot write to (nor use, if private)."""
    try:
        _make(path)
        link, info = path.lstat(), path.stat()
    except OSError as exc:
        raise DirectoryRefused(f"{variable}: cannot use {path}: {exc.strerror or exc}") from None
    uid = os.getuid()
    if not stat.S_ISDIR(info.st_mode):
        raise DirectoryRefused(f"{variable}: {path} is not a directory")
    if link.st_uid != uid or info.st_uid != uid:
        owner = link.st_uid if link.st_uid != uid else info.st_uid
        raise DirectoryRefused(
            f"{variable}: {path} belongs to uid {owner}, not to this user (uid {uid});"
            " point it at a directory of this user's"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & (PRIVATE_BITS if private else WRITE_BITS):
        raise DirectoryRefused(
            f"{variable}: {path} is open to other users (mode {mode:04o});"
            f" chmod {'700' if private else 'go-w'} it, or choose another directory"
        )
    return path


def _make(path: Path) -> None:
    # Each missing directory 0700, parents included (mkdir(parents=True) would give the
    # parents the umask's mode): the app's state directory is private from the start.
    missing = []
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    for folder in reversed(missing):
        # One made meanwhile by another process is checked below like any other.
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
