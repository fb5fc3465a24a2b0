"""The reporting views and functions by name, with the question each answers.

One registry: clerk-mirror report prints them and the console shows them. A test checks
that every clerk.report_* view of the database is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, LiteralString


@dataclass(frozen=True, slots=True)
class Report:
    question: str
    sql: LiteralString
    parameters: tuple[str, ...] = ()


REPORTS: Final[dict[str, Report]] = {
    "verification_status": Report(
        "How many live phone numbers are in each verification status and strategy?",
        "SELECT * FROM clerk.report_verification_status",
    ),
    "two_factor": Report(
        "How many live users have 2FA on, and what second factors do they hold?",
        "SELECT * FROM clerk.report_two_factor",
    ),
    "phone_regions": Report(
        "Where are the live phone numbers, and how many of them are verified?",
        "SELECT * FROM clerk.report_phone_regions",
    ),
    "integrity": Report(
        "Where does the live mirror contradict itself or Clerk's 2FA rules?",
        "SELECT * FROM clerk.report_integrity",
    ),
    "sync_health": Report(
        "Is the sync keeping up (pending, failed, dead events, oldest pending, last received)?",
        "SELECT * FROM clerk.report_sync_health",
    ),
    "time_to_verify": Report(
        "How long does a number take to get verified, per month (UTC) and region?",
        "SELECT * FROM clerk.report_time_to_verify",
    ),
    "shared_phone_numbers": Report(
        "Which numbers do several live users hold, or did a new user take after a deletion?",
        "SELECT * FROM clerk.report_shared_phone_numbers",
    ),
    "phone_numbers_as_of": Report(
        "What did clerk.phone_numbers hold at a past moment (--as-of)?",
        "SELECT * FROM clerk.phone_numbers_as_of(%(as_of)s) ORDER BY id",
        parameters=("as_of",),
    ),
    "user_phone_numbers_as_of": Report(
        "What did clerk.phone_numbers hold for one user (--user-id) at a past moment (--as-of)?",
        "SELECT * FROM clerk.phone_numbers_as_of(%(as_of)s, %(user_id)s) ORDER BY id",
        parameters=("as_of", "user_id"),
    ),
    "two_factor_adoption": Report(
        "How did 2FA adoption (TOTP, backup codes, phone) move, per month (UTC)?",
        "SELECT * FROM clerk.report_two_factor_adoption",
    ),
    "sms_verification_by_region_day": Report(
        "Per region and day, how many numbers were added and verified; is it SMS pumping?",
        "SELECT * FROM clerk.report_sms_verification_by_region_day",
    ),
}
