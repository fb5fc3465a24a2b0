"""The mirror rules, applied through the real inbox and apply code on real Postgres."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import psycopg
import pytest

from tests.support.bodies import STORY
from tests.support.crafted import deletion, moment, phone, snapshot
from tests.worker.mirror.helpers import deliver, drain, mirror_state, put, statuses
from worker.mirror import bulk, phone_history

US = "idn_2pPhoneAdaUS00000000001"
GB = "idn_2pPhoneAdaGB00000000002"
ADA = "user_2pAdaExample0000000000001"
IN_ORDER = [(name, f"msg_{i}") for i, name in enumerate(STORY)]


@pytest.fixture(autouse=True, params=["values", "copy"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every rule, once with rows written as INSERT ... VALUES and once staged by COPY."""
    monkeypatch.setattr(bulk, "VALUES_MAX_ROWS", 10**6 if request.param == "values" else -1)
    return str(request.param)


def at(minute: int) -> datetime:
    return datetime(2025, 1, 1, 0, minute, tzinfo=UTC)


def story_history(conn: psycopg.Connection) -> list[tuple[str, str, datetime, str | None, str]]:
    return conn.execute(
        "SELECT phone_number_id, change, effective_at, verification_status, svix_id"
        " FROM clerk.phone_number_history ORDER BY effective_at, phone_number_id"
    ).fetchall()


def test_story_in_order_gives_exact_rows_and_history(conn: psycopg.Connection) -> None:
    deliver(conn, IN_ORDER)

    assert story_history(conn) == [
        (US, "created", at(0), "unverified", "msg_0"),
        (US, "updated", at(1), "verified", "msg_1"),
        (US, "updated", at(2), "verified", "msg_2"),
        (GB, "created", at(3), "expired", "msg_3"),
        (GB, "updated", at(4), "verified", "msg_4"),
        (US, "deleted", at(4), "verified", "msg_4"),
        (GB, "deleted", at(5), "verified", "msg_5"),
    ]
    state = mirror_state(conn)
    (user,) = state["users"]
    assert user == {
        "id": ADA,
        "primary_phone_number_id": GB,
        "two_factor_enabled": True,
        "totp_enabled": True,
        "backup_code_enabled": True,
        "created_at": at(0),
        "updated_at": at(4),
        "deleted_at": at(5),
    }
    phones = {p["id"]: p for p in state["phones"]}
    assert phones[US]["deleted_at"] == at(4)
    assert phones[US]["reserved_for_second_factor"] is True
    assert phones[US]["region_code"] == "US"
    assert phones[GB]["deleted_at"] == at(5)
    assert phones[GB]["verification_strategy"] == "admin"
    assert phones[GB]["verification_attempts"] is None
    assert phones[GB]["is_primary"] is True
    assert phones[GB]["region_code"] == "GB"


def test_each_step_of_the_story_gives_the_expected_live_phones(conn: psycopg.Connection) -> None:
    expected_live = [{US}, {US}, {US}, {US, GB}, {GB}, set()]
    for (name, svix_id), live in zip(IN_ORDER, expected_live, strict=True):
        deliver(conn, [(name, svix_id)])
        rows = conn.execute(
            "SELECT id FROM clerk.phone_numbers WHERE deleted_at IS NULL"
        ).fetchall()
        assert {r[0] for r in rows} == live, name


def _final_after(conn: psycopg.Connection, order: list[tuple[str, str]]) -> dict[str, object]:
    with conn.transaction(force_rollback=True):
        deliver(conn, order)
        return mirror_state(conn)


def test_reverse_and_shuffled_delivery_converge_on_the_in_order_state(
    conn: psycopg.Connection,
) -> None:
    expected = _final_after(conn, IN_ORDER)
    assert _final_after(conn, IN_ORDER[::-1]) == expected
    rng = random.Random(7)
    for _ in range(25):
        order = IN_ORDER[:]
        rng.shuffle(order)
        assert _final_after(conn, order) == expected, [s for _, s in order]


def test_a_backlog_applied_in_one_batch_equals_one_by_one(conn: psycopg.Connection) -> None:
    expected = _final_after(conn, IN_ORDER)
    for name, svix_id in reversed(IN_ORDER):
        put(conn, name, svix_id)
    drain(conn)
    assert mirror_state(conn) == expected


def test_duplicate_delivery_adds_nothing(conn: psycopg.Connection) -> None:
    deliver(conn, IN_ORDER)
    before = mirror_state(conn)
    assert put(conn, IN_ORDER[2][0], IN_ORDER[2][1]) is False
    deliver(conn, IN_ORDER)
    assert mirror_state(conn) == before
    assert set(statuses(conn).values()) == {"processed"}


def test_late_update_after_deletion_does_not_bring_the_user_back(conn: psycopg.Connection) -> None:
    deliver(conn, [(STORY[0], "a"), (STORY[5], "b"), (STORY[3], "c")])
    user = conn.execute("SELECT deleted_at FROM clerk.users").fetchone()
    assert user == (at(5),)
    live = conn.execute("SELECT count(*) FROM clerk.phone_numbers WHERE deleted_at IS NULL")
    assert live.fetchone() == (0,)
    assert statuses(conn) == {"a": "processed", "b": "processed", "c": "processed"}


def test_stale_update_does_not_overwrite_newer_snapshot(conn: psycopg.Connection) -> None:
    deliver(conn, [(STORY[2], "new"), (STORY[0], "old")])
    row = conn.execute(
        "SELECT verification_status, reserved_for_second_factor FROM clerk.phone_numbers"
    ).fetchone()
    assert row == ("verified", True)
    # ... yet the older snapshot is a true past state and is in history, before the newer.
    assert [(r[1], r[4]) for r in story_history(conn)] == [("created", "old"), ("updated", "new")]


def test_legacy_shape_is_applied(conn: psycopg.Connection) -> None:
    deliver(conn, [("user.updated__legacy_shape", "legacy")])
    rows = conn.execute(
        "SELECT id, region_code, verification_status, verification_strategy, linked_to,"
        " created_at, is_primary FROM clerk.phone_numbers ORDER BY id"
    ).fetchall()
    assert rows == [
        (
            "idn_2pPhoneLegacy00000000001",
            "FR",
            "verified",
            "phone_code",
            [{"type": "oauth_google", "id": "idn_2pOauthLegacy00000000001"}],
            None,
            True,
        ),
        ("idn_2pPhoneLegacy00000000002", "JP", None, None, [], None, False),
    ]


def test_ignored_types_are_stored_as_ignored_and_change_nothing(conn: psycopg.Connection) -> None:
    put(conn, "session.created__ignored", "sess")
    drain(conn)
    assert statuses(conn) == {"sess": "ignored"}
    assert mirror_state(conn) == {"users": [], "phones": [], "history": []}


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.pop("updated_at"), "data.updated_at is missing"),
        (lambda d: d.update(phone_numbers="x"), "data.phone_numbers should be an array"),
        (lambda d: d["phone_numbers"][0].update(phone_number=5), "phone_number should be a string"),
        (lambda d: d["phone_numbers"][0]["verification"].update(attempts=-1), "out of range"),
        (lambda d: d.update(two_factor_enabled="yes"), "two_factor_enabled should be a boolean"),
    ],
)
def test_unusable_signed_event_is_marked_failed_with_reason(
    conn: psycopg.Connection, mutate: object, reason: str
) -> None:
    from tests.support.bodies import fixture_body

    body = fixture_body(STORY[0])
    mutate(body["data"])  # type: ignore[operator]
    put(conn, body, "bad")
    put(conn, STORY[1], "good")
    drain(conn)
    row = conn.execute(
        "SELECT status, last_error FROM clerk.webhook_events WHERE svix_id = 'bad'"
    ).fetchone()
    assert row is not None
    assert row[0] == "failed"
    assert reason in row[1]
    assert statuses(conn)["good"] == "processed"


def test_writing_no_rows_is_a_no_op(conn: psycopg.Connection) -> None:
    for stage in (bulk.USERS, bulk.PHONES, phone_history.STAGE):
        bulk.write(conn, stage, [])
    assert mirror_state(conn) == {"users": [], "phones": [], "history": []}


def test_a_deletion_dated_before_an_applied_snapshot_leaves_the_phones_of_in_order_delivery(
    conn: psycopg.Connection,
) -> None:
    # Clerk's clocks may date a user.deleted before the user's last updated_at. Delivered
    # after that snapshot, the deletion re-folds from its own time and ends the user
    # there, so the snapshot's new phone (idn_y) never was: no row of it may stay live.
    first = snapshot("user_a", moment(1), [phone("idn_x", "+12025550161")])
    later = snapshot(
        "user_a", moment(3), [phone("idn_x", "+12025550161"), phone("idn_y", "+12025550162")]
    )
    gone = deletion("user_a", moment(2))
    states = []
    for order in (
        [(first, "a"), (gone, "b"), (later, "c")],
        [(first, "a"), (later, "c"), (gone, "b")],
    ):
        with conn.transaction(force_rollback=True):
            for body, svix_id in order:
                put(conn, body, svix_id)
                drain(conn)
            states.append(mirror_state(conn))
            live = conn.execute(
                "SELECT id FROM clerk.phone_numbers WHERE deleted_at IS NULL"
            ).fetchall()
            assert live == [], order
    # (The users row differs: re-folding from the deletion keeps the later snapshot's
    # fields, which in order nothing after a deletion may change.)
    assert [{k: v for k, v in state.items() if k != "users"} for state in states] == [
        {k: v for k, v in states[0].items() if k != "users"}
    ] * 2


def test_a_late_event_of_a_deleted_user_writes_none_of_its_old_phones_again(
    conn: psycopg.Connection,
) -> None:
    # user_b's snapshots took over idn_x (Clerk never moves a phone id; the mirror must
    # still not resurrect it): a late event of the deleted user_a re-folds after its
    # deletion, where nothing counts, and must leave idn_x as user_b holds it.
    x = phone("idn_x", "+12025550161")
    for body, svix_id in (
        (snapshot("user_a", moment(1), [x]), "a1"),
        (snapshot("user_b", moment(2), [x]), "b2"),
        (deletion("user_a", moment(3)), "a3"),
        (snapshot("user_a", moment(5), [x]), "a5"),
        (snapshot("user_a", moment(4), [x]), "a4"),
    ):
        put(conn, body, svix_id)
        drain(conn)
    rows = conn.execute("SELECT id, user_id, deleted_at FROM clerk.phone_numbers").fetchall()
    assert rows == [("idn_x", "user_b", None)]
