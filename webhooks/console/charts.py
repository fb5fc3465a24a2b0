"""Chart.js configurations, built from query rows; the vendored Chart.js draws them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

BLUE, GREEN, ORANGE, GREY = "#2f6fdf", "#2a9d5b", "#e08a1e", "#8a94a6"
PALETTE = (BLUE, GREEN, ORANGE, "#b5479a", "#3bb2c4", "#c9452f", GREY, "#6c5ce7")


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal | float) else int(value)


def _dataset(label: str, data: list[Any], color: str, **extra: Any) -> dict[str, Any]:
    return {"label": label, "data": data, "backgroundColor": color, "borderColor": color, **extra}


def per_minute(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """Received vs applied per minute (UTC), the last 24 h."""
    labels = [minute.strftime("%H:%M") for minute, _, _ in rows]
    line = {"pointRadius": 0, "borderWidth": 1.5}
    received = _dataset("received", [int(r[1]) for r in rows], BLUE, fill=True, order=1, **line)
    # Received as a shaded area, applied as a line drawn over it: a gap between them is lag.
    received["backgroundColor"] = "rgba(47, 111, 223, 0.25)"
    applied = _dataset("applied", [int(r[2]) for r in rows], GREEN, fill=False, order=0, **line)
    return {
        "type": "line",
        "data": {"labels": labels, "datasets": [received, applied]},
        "options": {
            "animation": False,
            "maintainAspectRatio": False,
            "interaction": {"mode": "index", "intersect": False},
            "scales": {
                "x": {"ticks": {"maxTicksLimit": 13}, "title": {"display": True, "text": "UTC"}},
                "y": {"beginAtZero": True, "title": {"display": True, "text": "events / min"}},
            },
        },
    }


def _bars(labels: list[str], datasets: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {"animation": False, "maintainAspectRatio": False, **options},
    }


def verification_status(columns: list[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    at = {c: i for i, c in enumerate(columns)}
    labels = [
        f"{r[at['verification_status']] or 'no verification'}"
        f" / {r[at['verification_strategy']] or '-'}"
        for r in rows
    ]
    data = [_number(r[at["phone_numbers"]]) for r in rows]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(rows))]
    return {
        "type": "doughnut",
        "data": {
            "labels": labels,
            "datasets": [{"label": "phone numbers", "data": data, "backgroundColor": colors}],
        },
        "options": {"animation": False, "maintainAspectRatio": False},
    }


def phone_regions(columns: list[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    at = {c: i for i, c in enumerate(columns)}
    labels = [r[at["region_code"]] or "unknown" for r in rows]
    return _bars(
        labels,
        [
            _dataset("phone numbers", [_number(r[at["phone_numbers"]]) for r in rows], BLUE),
            _dataset("verified", [_number(r[at["verified"]]) for r in rows], GREEN),
        ],
        scales={"y": {"beginAtZero": True}},
    )


TWO_FACTOR_SHARES = (
    ("two_factor_share", "users with 2FA"),
    ("with_reserved_phone_share", "2FA: reserved phone"),
    ("with_default_phone_share", "2FA: default phone"),
    ("with_totp_share", "2FA: TOTP"),
    ("with_backup_codes_share", "2FA: backup codes"),
)


def two_factor(columns: list[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    row = dict(zip(columns, rows[0], strict=True)) if rows else {}
    labels = [label for _, label in TWO_FACTOR_SHARES]
    data = [_number(row.get(column)) for column, _ in TWO_FACTOR_SHARES]
    return _bars(
        labels,
        [_dataset("share", data, ORANGE)],
        indexAxis="y",
        scales={"x": {"min": 0, "max": 1}},
        plugins={"legend": {"display": False}},
    )


def time_to_verify(columns: list[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    at = {c: i for i, c in enumerate(columns)}
    months = sorted({r[at["month"]].isoformat()[:7] for r in rows})
    regions = sorted({r[at["region_code"]] or "unknown" for r in rows})
    median: dict[tuple[str, str], Any] = {
        (r[at["month"]].isoformat()[:7], r[at["region_code"]] or "unknown"): _number(
            r[at["median_seconds"]]
        )
        for r in rows
    }
    datasets = [
        _dataset(region, [median.get((m, region)) for m in months], PALETTE[i % len(PALETTE)])
        for i, region in enumerate(regions)
    ]
    return _bars(
        months,
        datasets,
        scales={"y": {"beginAtZero": True, "title": {"display": True, "text": "median s"}}},
    )


def sms_per_day(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """Codes sent and numbers sent to (bars) against numbers verified (a line), per day."""
    labels = [day.isoformat() for day, _, _, _ in rows]
    sent = _dataset("codes sent", [_number(r[1]) for r in rows], BLUE, order=2)
    numbers = _dataset("numbers sent to", [_number(r[2]) for r in rows], GREY, order=1)
    verified = _dataset(
        "numbers verified", [_number(r[3]) for r in rows], GREEN, type="line", order=0
    )
    return _bars(
        labels,
        [sent, numbers, verified],
        interaction={"mode": "index", "intersect": False},
        scales={"y": {"beginAtZero": True, "title": {"display": True, "text": "per day"}}},
    )


CHARTS = {
    "verification_status": verification_status,
    "phone_regions": phone_regions,
    "two_factor": two_factor,
    "time_to_verify": time_to_verify,
}
