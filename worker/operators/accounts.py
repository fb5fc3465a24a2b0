"""Operator accounts in clerk.console_operators: add, remove, set a password, check one.

Each password is stored as an argon2id hash (argon2-cffi's defaults: RFC 9106's low-memory
profile, 64 MiB), never the password. `generation` goes up with every password change: a
session remembers the generation it signed in under, and ends when it no longer matches.
Every function takes a connection and never commits: the caller owns the transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import argon2
import psycopg

# Lower case, so that Ada and ada are one operator; room for an email address.
NAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")
MIN_PASSWORD = 12
# argon2 reads any length, but a megabyte of password per guess is work for nothing.
MAX_PASSWORD = 1024
HASHER = argon2.PasswordHasher()

ADD = """
INSERT INTO clerk.console_operators (name, password_hash) VALUES (%(name)s, %(hash)s)
ON CONFLICT (name) DO NOTHING
"""
REPLACE_HASH = """
UPDATE clerk.console_operators
SET password_hash = %(hash)s, generation = generation + 1, password_changed_at = now()
WHERE name = %(name)s
"""
# A hash made under weaker parameters, made anew on a successful log-in: same password,
# so the generation (and every session) stays.
REHASH = """
UPDATE clerk.console_operators SET password_hash = %(hash)s
WHERE name = %(name)s AND generation = %(generation)s
"""
REMOVE = "DELETE FROM clerk.console_operators WHERE name = %(name)s"
FIND = "SELECT password_hash, generation FROM clerk.console_operators WHERE name = %(name)s"
GENERATION = "SELECT generation FROM clerk.console_operators WHERE name = %(name)s"
LIST = """
SELECT name, created_at, password_changed_at FROM clerk.console_operators ORDER BY name
"""


class AccountError(ValueError):
    """A name or password the accounts refuse; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    created_at: datetime
    password_changed_at: datetime


def normal_name(raw: str) -> str:
    """The name as stored; AccountError when it cannot be one."""
    name = raw.strip().lower()
    if not NAME.fullmatch(name):
        raise AccountError(
            f"{raw!r} is not an operator name: 1 to 64 of a-z 0-9 . _ @ + -, starting with a"
            " letter or digit"
        )
    return name


def _hash(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            f"an operator's password has {MIN_PASSWORD} to {MAX_PASSWORD} characters;"
            f" this one has {len(password)}"
        )
    return HASHER.hash(password)


def add(conn: psycopg.Connection, name: str, password: str) -> bool:
    """Add an operator; False when one of that name exists (nothing changes)."""
    done = conn.execute(ADD, {"name": normal_name(name), "hash": _hash(password)})
    return done.rowcount == 1


def set_password(conn: psycopg.Connection, name: str, password: str) -> bool:
    """A new password, which ends the operator's sessions; False when there is no such one."""
    done = conn.execute(REPLACE_HASH, {"name": normal_name(name), "hash": _hash(password)})
    return done.rowcount == 1


def remove(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute(REMOVE, {"name": normal_name(name)}).rowcount == 1


def listed(conn: psycopg.Connection) -> list[Operator]:
    return [Operator(*row) for row in conn.execute(LIST)]


def generation(conn: psycopg.Connection, name: str) -> int | None:
    """The operator's password generation; None when the operator was removed."""
    row = conn.execute(GENERATION, {"name": name}).fetchone()
    return None if row is None else int(row[0])


@cache
def _absent_hash() -> str:
    # Checked against when the name is unknown, so that an unknown name costs what a
    # wrong password does and the answer's time does not tell names apart.
    return HASHER.hash("no operator has this password")


def check(conn: psycopg.Connection, name: str, password: str) -> int | None:
    """The operator's generation when the password is theirs, else None."""
    try:
        name = normal_name(name)
    except AccountError:
        name = ""
    found = conn.execute(FIND, {"name": name}).fetchone() if name else None
    stored, generation = found if found is not None else (_absent_hash(), None)
    if not _verifies(stored, password) or generation is None:
        return None
    if HASHER.check_needs_rehash(stored):
        new = {"name": name, "hash": HASHER.hash(password), "generation": generation}
        conn.execute(REHASH, new)
    return int(generation)


def _verifies(stored: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return HASHER.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
