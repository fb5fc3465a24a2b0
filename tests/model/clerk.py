"""A plain in-memory Clerk and the mirror it implies: the oracle of the model-based test.

Clerk changes users, sends SMS codes and emits webhooks; the oracle folds every event the
mirror has been told (webhooks delivered, backfill snapshots, reconcile tombstones) in the
contract's order, (updated_at, event timestamp, svix-id by code point), with deletion
terminal; the SMS ledger keeps each message's earliest event. It shares no
code with worker.mirror: it is the rules written out the plainest way.
"""

from __future__ import annotations

import copy
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.bodies import fixture_body
from tests.support.crafted import phone, snapshot

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_MS = 1_735_689_600_000  # 2025-01-01, Clerk's clock in the model


def at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class Told:
    """One event as the mirror receives it."""

    svix_id: str
    body: dict[str, Any]

    @property
    def user_id(self) -> str:
        user_id: str = self.body["data"]["id"]
        return user_id

    @property
    def deletion(self) -> bool:
        return bool(self.body["type"] == "user.deleted")

    @property
    def key(self) -> tuple[int, int, str]:
        ts: int = self.body["timestamp"]
        version: int = ts if self.deletion else self.body["data"]["updated_at"]
        return (version, ts, self.svix_id)

    def phones(self) -> dict[str, tuple[Any, ...]]:
        """phone id -> the values the model compares, as this snapshot has them."""
        data = self.body["data"]
        primary = data.get("primary_phone_number_id")
        return {p["id"]: _values(p, p["id"] == primary) for p in data["phone_numbers"]}


COMPARED = (
    "phone_number, verification_status, verification_strategy, verification_attempts,"
    " verification_expire_at, reserved_for_second_factor, default_second_factor, is_primary"
)

AS_OF_COMPARED = COMPARED.removeprefix("phone_number, ")


def _values(entry: dict[str, Any], is_primary: bool) -> tuple[Any, ...]:
    """The COMPARED columns, as the mirror should store them from this phone entry."""
    v = entry["verification"] or {}
    expire = v.get("expire_at")
    return (
        entry["phone_number"],
        v.get("status"),
        v.get("strategy"),
        v.get("attempts"),
        at(expire) if expire is not None else None,
        entry["reserved_for_second_factor"],
        entry["default_second_factor"],
        is_primary,
    )


@dataclass(slots=True)
class ClerkUser:
    user_id: str
    phones: list[dict[str, Any]] = field(default_factory=list)
    two_factor: bool = False
    totp: bool = False
    backup: bool = False
    primary: str | None = None
    updated_ms: int = 0
    deleted: bool = False
    # (updated_ms, body) of every state it had: what a stale listing may return.
    states: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return snapshot(
            self.user_id,
            at(self.updated_ms),
            copy.deepcopy(self.phones),
            two_factor=self.two_factor,
            totp=self.totp,
            backup=self.backup,
            primary=self.primary,
        )


class Clerk:
    """Users that change at random, each change a webhook (svix-id, body) to deliver."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.users: dict[str, ClerkUser] = {}
        self.clock_ms = START_MS
        self._serial = 0
        self._last: dict[str, Told] = {}

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}_{self._serial:06d}"

    def _svix_id(self, tie_with: Told | None) -> str:
        if tie_with is not None:
            # The same letters in another case: equal under ICU, ordered apart in C.
            return tie_with.svix_id.swapcase().replace("MSG_", "msg_")
        letters = "".join(self.rng.choice(string.ascii_letters) for _ in range(6))
        return f"msg_{letters}{self._serial:06d}"

    def live(self) -> list[ClerkUser]:
        return [u for u in self.users.values() if not u.deleted]

    def change(self) -> Told:
        """Create, update or delete a user, as Clerk would; returns the webhook."""
        live = self.live()
        roll = self.rng.random()
        if not live or (roll < 0.2 and len(live) < 6):
            user = ClerkUser(self._next_id("user"))
            self.users[user.user_id] = user
            self._mutate(user)
            self._mutate(user)
        else:
            user = self.rng.choice(live)
            if roll > 0.95:
                return self._delete(user)
            self._mutate(user)
        return self._snapshot_event(user)

    def _mutate(self, user: ClerkUser) -> None:
        roll = self.rng.random()
        if not user.phones or roll < 0.3:
            number = f"+1202555{self.rng.randrange(10_000):04d}"
            status = self.rng.choice([None, "unverified", "verified"])
            user.phones.append(phone(self._next_id("idn"), number, status=status))
        elif roll < 0.45:
            user.phones.remove(self.rng.choice(user.phones))
        elif roll < 0.7:
            target = self.rng.choice(user.phones)
            status = self.rng.choice(["verified", "failed", "expired", "unverified"])
            target["verification"] = target["verification"] or {"strategy": "phone_code"}
            target["verification"].update(status=status, attempts=1, expire_at=None)
        elif roll < 0.85:
            user.two_factor = not user.two_factor
            target = self.rng.choice(user.phones)
            target["reserved_for_second_factor"] = user.two_factor
        elif roll < 0.9:
            user.totp = not user.totp
        elif roll < 0.95:
            user.backup = not user.backup
        ids = [p["id"] for p in user.phones]
        if user.primary not in ids or self.rng.random() < 0.1:
            user.primary = self.rng.choice(ids) if ids else None

    def _tick(self, user_id: str) -> tuple[int, int, Told | None]:
        """(updated_ms, timestamp) of the next change, sometimes tied with the last one."""
        last = self._last.get(user_id)
        if last is not None and self.rng.random() < 0.15:
            version, ts, _ = last.key
            return version, ts, last
        self.clock_ms += self.rng.choice([0, 1, 1, 2, 5])
        return self.clock_ms, self.clock_ms + self.rng.choice([0, 0, 1, 3]), None

    def _snapshot_event(self, user: ClerkUser) -> Told:
        version, ts, tie = self._tick(user.user_id)
        user.updated_ms = max(user.updated_ms, version)
        body = user.body()
        body["data"]["updated_at"] = version
        body["timestamp"] = ts
        user.states.append(copy.deepcopy(body["data"]))
        told = Told(self._svix_id(tie), body)
        self._last[user.user_id] = told
        return told

    def _delete(self, user: ClerkUser) -> Told:
        user.deleted = True
        self.clock_ms += self.rng.choice([1, 2])
        body = {
            "object": "event",
            "type": "user.deleted",
            "timestamp": self.clock_ms,
            "data": {"id": user.user_id, "object": "user", "deleted": True},
        }
        return Told(self._svix_id(None), body)

    def listing(self, stale: bool) -> list[dict[str, Any]]:
        """What GET /v1/users answers now, or answered at some earlier moment."""
        if not stale:
            return [copy.deepcopy(u.states[-1]) for u in self.live() if u.states]
        cut = self.rng.randrange(START_MS, self.clock_ms + 1)
        page = []
        for user in self.users.values():
            before = [s for s in user.states if s["updated_at"] <= cut]
            if before:
                page.append(copy.deepcopy(before[-1]))
        return page


# --- the oracle: what the mirror must hold, from what it was told ---

PhoneState = tuple[Any, ...]  # the compared values, then deleted_at


@dataclass(slots=True)
class Expected:
    users: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    phones: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # (phone_id, change, values..., deleted_at, effective_at, event_ms, svix_id)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    # (user_id, change, primary, 2fa, totp, backup, deleted_at, effective_at, event_ms, svix_id)
    user_history: list[tuple[Any, ...]] = field(default_factory=list)


def expected(told: dict[str, Told]) -> Expected:
    out = Expected()
    by_user: dict[str, list[Told]] = {}
    for event in told.values():
        by_user.setdefault(event.user_id, []).append(event)
    for user_id, events in by_user.items():
        _fold_user(user_id, sorted(events, key=lambda e: e.key), out)
    out.history.sort(key=lambda r: (r[0], r[-3], r[-2], r[-1]))
    out.user_history.sort(key=lambda r: (r[0], r[-3], r[-2], r[-1]))
    return out


def _fold_user(user_id: str, events: list[Told], out: Expected) -> None:
    live: dict[str, tuple[Any, ...]] = {}
    gone: dict[str, tuple[tuple[Any, ...], datetime]] = {}
    fields: tuple[Any, ...] = (None, None, None)
    tracked: tuple[Any, ...] | None = None
    deleted_at = None
    for event in events:
        version, ts, svix_id = event.key
        when = at(version)
        if event.deletion:
            if tracked is not None:
                out.user_history.append((user_id, "deleted", *tracked, when, when, ts, svix_id))
            for phone_id in sorted(live):
                gone[phone_id] = (live[phone_id], when)
                out.history.append((phone_id, "deleted", *live[phone_id], when, when, ts, svix_id))
            live, deleted_at = {}, when
            break
        data = event.body["data"]
        fields = (data.get("primary_phone_number_id"), data["two_factor_enabled"], when)
        followed = (
            data.get("primary_phone_number_id"),
            data["two_factor_enabled"],
            data["totp_enabled"],
            data["backup_code_enabled"],
        )
        if followed != tracked:
            change = "created" if tracked is None else "updated"
            out.user_history.append((user_id, change, *followed, None, when, ts, svix_id))
            tracked = followed
        now = event.phones()
        for phone_id, values in now.items():
            if live.get(phone_id) == values:
                continue
            change = "updated" if phone_id in live else "created"
            out.history.append((phone_id, change, *values, None, when, ts, svix_id))
            live[phone_id] = values
            gone.pop(phone_id, None)
        for phone_id in sorted(set(live) - set(now)):
            gone[phone_id] = (live.pop(phone_id), when)
            out.history.append((phone_id, "deleted", *gone[phone_id][0], when, when, ts, svix_id))
    out.users[user_id] = (*fields, deleted_at)
    for phone_id, values in live.items():
        out.phones[phone_id] = (user_id, *values, None)
    for phone_id, (values, when) in gone.items():
        out.phones[phone_id] = (user_id, *values, when)


def as_of(history: list[tuple[Any, ...]], moment: datetime) -> dict[str, tuple[Any, ...]]:
    """Each phone's newest history row at or before moment: what as-of must answer
    (its AS_OF_COMPARED values and deleted_at)."""
    state: dict[str, tuple[Any, ...]] = {}
    for row in history:  # sorted by phone, then effective time, event time, svix-id
        if row[-3] <= moment:
            state[row[0]] = row[3:-3]  # AS_OF_COMPARED: all but the number
    return state


# --- SMS: Clerk's sends, and the ledger they imply ---

LEDGER_COMPARED = (
    "user_id, phone_number_id, slug, status, delivered_by_clerk, created_at, phone_number,"
    " region_code, number_prefix, number_type, is_valid_number, is_test_number"
)


def sms_send(clerk: Clerk, sent: list[Told]) -> Told:
    """An sms.created: a code to a live user's phone, a sign-up's code (no user yet), or
    Clerk's second event for a message it already told (the same message id)."""
    if sent and clerk.rng.random() < 0.1:
        again = copy.deepcopy(clerk.rng.choice(sent).body)
        again["timestamp"] += 1
        return Told(clerk._svix_id(None) + "_sms", again)
    clerk.clock_ms += 1
    live = [u for u in clerk.live() if u.phones]
    body = fixture_body("sms.created__verification_code")
    data = body["data"]
    if live and clerk.rng.random() < 0.7:
        user = clerk.rng.choice(live)
        target = clerk.rng.choice(user.phones)
        data.update(user_id=user.user_id, phone_number_id=target["id"])
        data["to_phone_number"] = target["phone_number"]
    else:
        data.update(user_id=None, phone_number_id=None)
        data["to_phone_number"] = f"+1202555{clerk.rng.randrange(10_000):04d}"
    data["id"] = clerk._next_id("sms")
    data["status"] = clerk.rng.choice(["queued", "sent", "delivered"])
    if clerk.rng.random() < 0.5:
        data["created_at_ms"] = clerk.clock_ms - clerk.rng.choice([0, 5])
    else:
        del data["created_at_ms"]
    body["timestamp"] = clerk.clock_ms
    return Told(clerk._svix_id(None) + "_sms", body)


def expected_ledger(sent: dict[str, Told]) -> dict[str, tuple[Any, ...]]:
    """message id -> its LEDGER_COMPARED values and svix-id. The rules plainly: one row per
    message id, from its earliest event (created_at, then svix-id by code point); every
    number of the model is +1 202 555 XXXX, a US number the library calls
    fixed_line_or_mobile, a Clerk test number from 0100 to 0199."""
    out: dict[str, tuple[Any, ...]] = {}
    for told in sorted(sent.values(), key=lambda t: t.svix_id):
        data = told.body["data"]
        number = data["to_phone_number"]
        ms = data.get("created_at_ms", told.body["timestamp"])
        values = (
            data["user_id"], data["phone_number_id"], data["slug"], data["status"],
            data["delivered_by_clerk"], at(ms), number, "US", number[:-4],
            "fixed_line_or_mobile", True, 100 <= int(number[-4:]) <= 199,
            told.svix_id,
        )  # fmt: skip
        earlier = out.get(data["id"])
        if earlier is None or values[5] < earlier[5]:
            out[data["id"]] = values
    return out
