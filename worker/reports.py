"""The reporting views and functions by name, with the query that reads each.

One registry: clerk-mirror report prints them and the console shows them. Each report's
question is read from the header of its file, sql/reports/NN_<name>.sql, where it is
written once (with its columns and how it is computed). A test checks that every file
there and every clerk.report_* view of the database is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, LiteralString

from worker import sqlfiles


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    sql: LiteralString
    parameters: tuple[str, ...] = ()

    @property
    def header(self) -> sqlfiles.Header:
        """The report's file: question, columns, empty-mirror behaviour and definition."""
        return sqlfiles.reports()[self.name]

    @property
    def question(self) -> str:
        return self.header.question


_ALL: Final = (
    Report("verification_status", "SELECT * FROM clerk.report_verification_status"),
    Report("two_factor", "SELECT * FROM clerk.report_two_factor"),
    Report("phone_regions", "SELECT * FROM clerk.report_phone_regions"),
    Report("integrity", "SELECT * FROM clerk.report_integrity"),
    Report("sync_health", "SELECT * FROM clerk.report_sync_health"),
    Report("time_to_verify", "SELECT * FROM clerk.report_time_to_verify"),
    Report("shared_phone_numbers", "SELECT * FROM clerk.report_shared_phone_numbers"),
    Report(
        "phone_numbers_as_of",
        "SELECT * FROM clerk.phone_numbers_as_of(%(as_of)s) ORDER BY id",
        parameters=("as_of",),
    ),
    Report(
        "user_phone_numbers_as_of",
        "SELECT * FROM clerk.phone_numbers_as_of(%(as_of)s, %(user_id)s) ORDER BY id",
        parameters=("as_of", "user_id"),
    ),
    Report("two_factor_adoption", "SELECT * FROM clerk.report_two_factor_adoption"),
    Report(
        "sms_verification_by_region_day",
        "SELECT * FROM clerk.report_sms_verification_by_region_day",
    ),
    Report("sms_conversion", "SELECT * FROM clerk.report_sms_conversion"),
    Report("sms_pumping", "SELECT * FROM clerk.report_sms_pumping"),
    Report("risky_phone_numbers", "SELECT * FROM clerk.report_risky_phone_numbers"),
)
REPORTS: Final[dict[str, Report]] = {report.name: report for report in _ALL}
