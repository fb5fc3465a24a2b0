"""Turn a Clerk webhook body into typed events, or a readable reason it cannot be applied."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from worker.mirror.numbers import facts as number_facts
from worker.records import record

SNAPSHOT_TYPES = frozenset({"user.created", "user.updated"})
DELETION_TYPE = "user.deleted"
USER_TYPES = SNAPSHOT_TYPES | {DELETION_TYPE}
# The SMS ledger's event (worker.sms): applied, but not folded into a user.
SMS_TYPE = "sms.created"
APPLIED_TYPES = USER_TYPES | {SMS_TYPE}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Postgres timestamptz holds far more, but Python's datetime stops at year 9999, and a
# time is read back in the session's zone: 9999-12-31T23:59Z is already year 10000 at
# UTC+14 (Pacific/Kiritimati). A day's margin keeps what the mirror stores readable in
# every real zone and at any offset under a day.
LAST_DAY = "9999-12-30"
MAX_MS = (datetime(9999, 12, 31, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1) - 1
INT4_MAX = 2_147_483_647
# Bounds on what a body may hold, in characters. Clerk's ids are about 30; an index entry
# holds at most 2,704 bytes (a character is up to 4), and phone_numbers_second_factor_idx
# holds a user id, a phone id and a status. E.164 numbers are at most 16 characters.
MAX_ID = 255
MAX_ENUM = 64
MAX_PHONE_NUMBER = 64


class InvalidEvent(ValueError):
    """A signed event whose content cannot be applied; the message says why."""


class EventKey(NamedTuple):
    """Total order of a user's events: Clerk's updated_at, then the event timestamp."""

    version_ms: int
    event_ms: int
    svix_id: str


@record
class PhoneValues:
    """What the mirror stores of one phone number at one moment."""

    phone_number: str
    region_code: str | None
    reserved_for_second_factor: bool
    default_second_factor: bool
    is_primary: bool
    verification_status: str | None
    verification_strategy: str | None
    verification_attempts: int | None
    verification_expire_at: datetime | None
    linked_to: tuple[tuple[str, str], ...]
    created_at: datetime | None
    updated_at: datetime | None


@record
class UserFields:
    primary_phone_number_id: str | None
    two_factor_enabled: bool | None
    totp_enabled: bool | None
    backup_code_enabled: bool | None
    created_at: datetime | None
    updated_at: datetime


@record
class Snapshot:
    """A user.created/user.updated: the complete state of a user and its phones."""

    key: EventKey
    user_id: str
    user: UserFields
    phones: tuple[tuple[str, PhoneValues], ...]

    @property
    def effective_at(self) -> datetime:
        return self.user.updated_at


@record
class Deletion:
    """A user.deleted: terminal for the user and all its phones."""

    key: EventKey
    user_id: str

    @property
    def effective_at(self) -> datetime:
        return ms_to_datetime(self.key.event_ms)


Event = Snapshot | Deletion


class Envelope(NamedTuple):
    """What ingest lifts from a body without judging it: all may be None."""

    event_type: str
    user_id: str | None
    version_ms: int | None
    event_ms: int | None


def ms_to_datetime(ms: int) -> datetime:
    # Seconds and microseconds by position: a third cheaper than timedelta(milliseconds=),
    # for a call every parsed phone makes three times.
    return EPOCH + timedelta(0, ms // 1000, ms % 1000 * 1000)


def envelope(body: object) -> Envelope | None:
    """Return the envelope of a JSON event, or None when the body is not an event at all."""
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return None
    if not storable(body["type"]) or not isinstance(body.get("data"), dict):
        return None
    data = body["data"]
    user_id = data.get("id") if body["type"] in USER_TYPES else None
    if body["type"] == SMS_TYPE:
        # So that an erased user's sends are stored without a body, and forgotten with them.
        user_id = data.get("user_id")
    event_ms = _lenient_ms(body.get("timestamp"))
    version_ms = event_ms if body["type"] == DELETION_TYPE else _lenient_ms(data.get("updated_at"))
    ok_id = isinstance(user_id, str) and 0 < len(user_id) <= MAX_ID and storable(user_id)
    return Envelope(body["type"], user_id if ok_id else None, version_ms, event_ms)


def parse_event(svix_id: str, payload: bytes | dict[str, Any]) -> Event | None:
    """Parse a stored event; None for a type the mirror ignores, InvalidEvent if unusable."""
    body = load_body(payload)
    event_type = _field(body, "type", str, "event")
    if event_type not in USER_TYPES:
        return None
    event_ms = _ms(body, "timestamp", "event")
    data = _field(body, "data", dict, "event")
    user_id = _id(data, "data")
    if event_type == DELETION_TYPE:
        return Deletion(EventKey(event_ms, event_ms, svix_id), user_id)
    user = _user_fields(data)
    version_ms: int = data["updated_at"]  # user.updated_at, as _user_fields checked it
    phones = _phones(data, user.primary_phone_number_id)
    return Snapshot(EventKey(version_ms, event_ms, svix_id), user_id, user, phones)


def load_body(payload: bytes | dict[str, Any]) -> dict[str, Any]:
    """A stored body as the JSON object it must be, or InvalidEvent saying why not."""
    if isinstance(payload, dict):
        return payload
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(f"body is not JSON: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise InvalidEvent("body is not a JSON object")
    return body


def _user_fields(data: dict[str, Any]) -> UserFields:
    return UserFields(
        primary_phone_number_id=_opt(data, "primary_phone_number_id", str, "data", MAX_ID),
        two_factor_enabled=_opt(data, "two_factor_enabled", bool, "data"),
        totp_enabled=_opt(data, "totp_enabled", bool, "data"),
        backup_code_enabled=_opt(data, "backup_code_enabled", bool, "data"),
        created_at=_opt_ms(data, "created_at", "data"),
        updated_at=ms_to_datetime(_ms(data, "updated_at", "data")),
    )


def _phones(data: dict[str, Any], primary_id: str | None) -> tuple[tuple[str, PhoneValues], ...]:
    items = _field(data, "phone_numbers", list, "data")
    phones: dict[str, PhoneValues] = {}
    for index, item in enumerate(items):
        where = f"data.phone_numbers[{index}]"
        if not isinstance(item, dict):
            raise InvalidEvent(f"{where} is not an object")
        phone_id = _id(item, where)
        if phone_id in phones:
            raise InvalidEvent(f"{where}.id repeats an earlier phone number")
        phones[phone_id] = _phone_values(item, where, is_primary=phone_id == primary_id)
    return tuple(phones.items())


def _phone_values(item: dict[str, Any], where: str, *, is_primary: bool) -> PhoneValues:
    number = _field(item, "phone_number", str, where, MAX_PHONE_NUMBER)
    verification = _opt(item, "verification", dict, where)
    vwhere = f"{where}.verification"
    attempts = _opt(verification, "attempts", int, vwhere) if verification else None
    if attempts is not None and not 0 <= attempts <= INT4_MAX:
        raise InvalidEvent(f"{vwhere}.attempts is out of range")
    return PhoneValues(
        phone_number=number,
        region_code=region_code(number),
        reserved_for_second_factor=_opt(item, "reserved_for_second_factor", bool, where) or False,
        default_second_factor=_opt(item, "default_second_factor", bool, where) or False,
        is_primary=is_primary,
        verification_status=_opt(verification, "status", str, vwhere, MAX_ENUM)
        if verification
        else None,
        verification_strategy=_opt(verification, "strategy", str, vwhere, MAX_ENUM)
        if verification
        else None,
        verification_attempts=attempts,
        verification_expire_at=_opt_ms(verification, "expire_at", vwhere) if verification else None,
        linked_to=_linked_to(item, where),
        created_at=_opt_ms(item, "created_at", where),
        updated_at=_opt_ms(item, "updated_at", where),
    )


def _linked_to(item: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    links = _opt(item, "linked_to", list, where) or []
    out = []
    for index, link in enumerate(links):
        lwhere = f"{where}.linked_to[{index}]"
        if not isinstance(link, dict):
            raise InvalidEvent(f"{lwhere} is not an object")
        out.append(
            (_field(link, "type", str, lwhere, MAX_ENUM), _field(link, "id", str, lwhere, MAX_ID))
        )
    return tuple(out)


def region_code(number: str) -> str | None:
    """ISO 3166-1 alpha-2 region of an E.164 number, None when it names no region."""
    return number_facts(number).region_code


def _field(obj: dict[str, Any], name: str, kind: type, where: str, limit: int = 0) -> Any:
    value = obj.get(name)
    if value is None:
        raise InvalidEvent(f"{where}.{name} is missing")
    if type(value) is kind and kind is not str:  # _typed's first check, without the call
        return value
    return _typed(value, name, kind, where, limit)


def _opt(obj: dict[str, Any], name: str, kind: type, where: str, limit: int = 0) -> Any:
    value = obj.get(name)
    if value is None or (type(value) is kind and kind is not str):
        return value
    return _typed(value, name, kind, where, limit)


def _typed(value: Any, name: str, kind: type, where: str, limit: int = 0) -> Any:
    """value checked; a string the mirror stores is checked against its limit first, so
    that no overlong one reaches the numbers' cache or an index."""
    # A string as the JSON decoder makes it, that passes: at once (_field and _opt pass
    # every other value of the exact type before calling).
    if (
        type(value) is str
        and kind is str
        and (not limit or len(value) <= limit)
        and storable(value)
    ):
        return value
    # bool is an int in Python; JSON true is never a count or a time.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidEvent(f"{where}.{name} should be {_KIND_NAMES[kind]}")
    if limit and isinstance(value, str) and len(value) > limit:
        raise InvalidEvent(f"{where}.{name} is longer than {limit} characters")
    if isinstance(value, str) and not storable(value):
        raise InvalidEvent(f"{where}.{name} contains a NUL or an unpaired surrogate")
    return value


def storable(text: str) -> bool:
    """Postgres text takes any UTF-8 but NUL; JSON can also smuggle in lone surrogates."""
    if "\x00" in text:
        return False
    if text.isascii():  # no surrogate, and no copy made to find out
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _id(obj: dict[str, Any], where: str) -> str:
    value: str = _field(obj, "id", str, where)
    if not 0 < len(value) <= MAX_ID:
        raise InvalidEvent(f"{where}.id should be 1 to {MAX_ID} characters")
    return value


def _ms(obj: dict[str, Any], name: str, where: str) -> int:
    value: int = _field(obj, name, int, where)
    if not 0 <= value <= MAX_MS:
        raise InvalidEvent(
            f"{where}.{name} is out of range: a time in ms from 1970 to {LAST_DAY} (UTC)"
        )
    return value


def _opt_ms(obj: dict[str, Any], name: str, where: str) -> datetime | None:
    value = obj.get(name)
    if value is None:
        return None
    ms = _lenient_ms(value)  # what _ms accepts; else _ms raises, with the reason
    return ms_to_datetime(_ms(obj, name, where) if ms is None else ms)


def _lenient_ms(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_MS:
        return value
    return None


_KIND_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object"}
_KIND_NAMES[list] = "an array"
