"""sql/schema.sql is what migrate builds, from empty or from a database of an earlier release."""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import schema
from tests.support.databases import create_database, drop_database, with_dbname
from worker import migrate, sqlfiles

# The migrations of the releases before each view and function had a file of its own.
BEFORE_REPEATABLES = "0013"


def assert_is_the_snapshot(built: str) -> None:
    expected = schema.SNAPSHOT.read_text()
    if built != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), built.splitlines(), "sql/schema.sql", "migrate", lineterm=""
        )
        pytest.fail(
            "migrate builds another schema than sql/schema.sql; if the change is meant,"
            " write it anew with `make schema`:\n" + "\n".join(list(diff)[:80])
        )


@pytest.fixture
def empty_url(services: dict[str, str]) -> Iterator[str]:
    name = create_database(services["postgres"])
    yield with_dbname(services["postgres"], name)
    drop_database(services["postgres"], name)


def test_a_database_built_by_migrate_is_the_snapshot(services: dict[str, str]) -> None:
    assert_is_the_snapshot(schema.built_by_migrate(services["postgres"]))


def test_a_database_of_0001_to_0012_upgrades_to_the_snapshot(
    empty_url: str, tmp_path: Path
) -> None:
    (tmp_path / "migrations").mkdir()
    for path in sqlfiles.migrations(sqlfiles.root()):
        if path.stem < BEFORE_REPEATABLES:
            shutil.copy(path, tmp_path / "migrations")
    earlier = migrate.migrate(empty_url, tmp_path)
    assert earlier.versions[-1] == "0012_report_shapes_at_scale"
    assert not earlier.objects

    upgrade = migrate.migrate(empty_url)

    # No checksum recorded yet: every file runs once, CREATE OR REPLACE of what 0012 left.
    later = [p.stem for p in sqlfiles.migrations(sqlfiles.root()) if p.stem >= BEFORE_REPEATABLES]
    assert list(upgrade.versions) == later
    assert later[0] == "0013_repeatable_objects"
    assert [f"{p.parent.name}/{p.name}" for p in sqlfiles.repeatables(sqlfiles.root())] == list(
        upgrade.objects
    )
    assert_is_the_snapshot(schema.dump(empty_url))
    again = migrate.migrate(empty_url)
    assert not again.versions
    assert not again.objects


PG15_VIEW = """\
--
-- PostgreSQL database dump
--

\\restrict RiI85JhlPwlgCmSCwDKAojZfqEGuunutp3Aer3VrPvl38eY3scDXZQbIF4cRpfS

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

ALTER TABLE ONLY clerk.webhook_events ALTER COLUMN payload SET COMPRESSION lz4;


CREATE VIEW clerk.report_phone_regions AS
 SELECT p.region_code,
    count(*) FILTER (WHERE (p.verification_status = 'verified'::text)) AS verified
   FROM clerk.phone_numbers p
  WHERE (p.deleted_at IS NULL);
CREATE INDEX users_idx ON clerk.users USING btree (id);
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA clerk GRANT SELECT ON TABLES  TO r;
"""
PG18_VIEW = """\
\\restrict UHcywVOnzjyF3KauhB0aLRtkFY2gMSm8vnOd80OzyrefgUbU9StcCORu81KEWG6
SET transaction_timeout = 0;

CREATE VIEW clerk.report_phone_regions AS
 SELECT region_code,
    count(*) FILTER (WHERE (verification_status = 'verified'::text)) AS verified
   FROM clerk.phone_numbers p
  WHERE (deleted_at IS NULL);
CREATE INDEX users_idx ON clerk.users USING btree (id);
ALTER DEFAULT PRIVILEGES FOR ROLE analyst IN SCHEMA clerk GRANT SELECT ON TABLES TO r;
\\unrestrict UHcywVOnzjyF3KauhB0aLRtkFY2gMSm8vnOd80OzyrefgUbU9StcCORu81KEWG6
"""


def test_the_normal_form_is_the_same_for_pg_dump_15_and_18_and_any_owner() -> None:
    assert schema.normal_form(PG15_VIEW) == schema.normal_form(PG18_VIEW)
    kept = schema.normal_form(PG15_VIEW)
    # Qualifiers go only inside views: an index still names its table's schema.
    assert "ON clerk.users USING btree" in kept
    assert "FROM phone_numbers p" in kept
    assert "FOR ROLE owner IN SCHEMA clerk GRANT SELECT ON TABLES TO r;" in kept
