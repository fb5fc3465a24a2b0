"""The console's SMS page: the sends-against-verifications chart and the suspicious prefixes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from tests.webhooks.console_helpers import (
    PUMPED,
    console_app,
    raw_numbers_in,
    seed,
    seed_sms,
    sign_in,
)
from webhooks.console import masking


@pytest.fixture
def console(database_url: str, redis_url: str) -> Iterator[FlaskClient]:
    seed(database_url)
    app = console_app(database_url, redis_url)
    yield app.test_client()
    app.extensions["clerk_mirror"].close()


def chart_config(page: str) -> dict[str, object]:
    found = re.search(
        r'<script type="application/json" id="chart-sms-per-day-data">(.*?)</script>', page, re.S
    )
    assert found, page
    config: dict[str, object] = json.loads(found.group(1))
    return config


def test_the_sms_page_charts_sends_and_verifications_and_lists_the_pumped_prefix(
    console: FlaskClient, database_url: str
) -> None:
    today = seed_sms(database_url)
    sign_in(console)
    page = console.get("/console/sms")
    assert page.status_code == 200
    text = page.text
    config = chart_config(text)
    data = config["data"]
    assert isinstance(data, dict)
    assert data["labels"] == [
        (today - timedelta(days=1)).date().isoformat(),
        today.date().isoformat(),
    ]
    assert [d["data"] for d in data["datasets"]] == [[1, 25], [1, 25], [1, 0]]
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", text, re.S)
    assert len(rows) == 1
    cells = re.split(r"</td><td>", rows[0])
    assert cells[:7] == [today.date().isoformat(), "GB", "+44740099", "25", "25", "0", "0.0000"]
    assert "25 sends from a prefix with none in the 28 days before" in cells[-1]
    assert '<a href="/console/sms">SMS</a>' in text
    assert not raw_numbers_in(text)
    assert not [n for n in [*PUMPED, "+447400123456"] if n in text or n[1:] in text]


def test_the_sms_page_of_a_mirror_without_sms_says_so(console: FlaskClient) -> None:
    sign_in(console)
    text = console.get("/console/sms").text
    assert "No SMS in the last 60 days." in text
    assert "no rows" in text


def test_a_prefix_is_shown_and_anything_else_under_its_name_is_hidden() -> None:
    assert masking.cell("number_prefix", "+44740099") == "+44740099"
    assert masking.cell("number_prefix", "+447400991234567") == masking.HIDDEN
    assert masking.cell("number_prefix", "<b>") == masking.HIDDEN
    assert masking.cell("number_prefix", None) is None
