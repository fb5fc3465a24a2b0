"""The console's SMS page: codes sent against numbers verified per day, and the prefixes
that sms_pumping flags (SMS pumping, toll fraud)."""

from __future__ import annotations

from flask import render_template

from webhooks.console import charts, queries
from webhooks.console.blueprint import bp
from webhooks.console.reports import read
from webhooks.runtime import runtime


@bp.get("/sms")
def sms() -> str:
    with runtime().pool.connection() as conn:
        _, days = read(conn, queries.SMS_PER_DAY)
        columns, suspicious = read(conn, queries.SMS_SUSPICIOUS)
    return render_template(
        "console/sms.html",
        sms_chart=charts.sms_per_day(days) if days else None,
        columns=columns,
        suspicious=suspicious,
    )
