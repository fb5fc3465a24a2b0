"""The rooms' dependency rules, read from the source: imports point one way."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.signing import TEST_SECRET

ROOT = Path(__file__).parent.parent
FRAMEWORKS = ("flask", "celery", "click", "httpx", "psycopg", "psycopg_pool", "redis")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def room(name: str) -> list[Path]:
    return sorted((ROOT / name).rglob("*.py"))


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# The pure rules, and what of the worker each may import: events reads numbers' facts, and
# both define their values as records (worker.records, the standard library alone).
PURE = {
    "events": ("worker.mirror.events", "worker.mirror.numbers", "worker.records"),
    "fold": ("worker.mirror.events", "worker.records"),
    "numbers": (),
}


@pytest.mark.parametrize("name", sorted(PURE))
def test_the_mirror_rules_import_no_framework_and_no_driver(name: str) -> None:
    found = imports(ROOT / "worker" / "mirror" / f"{name}.py")
    assert not {m for m in found if under(m, *FRAMEWORKS)}
    assert all(under(m, *PURE[name]) for m in found if under(m, "worker"))


def test_the_web_never_imports_the_celery_app_or_its_tasks() -> None:
    for path in room("webhooks"):
        assert not {m for m in imports(path) if under(m, "worker.app", "worker.tasks")}, path


def test_nothing_in_worker_imports_webhooks() -> None:
    for path in room("worker"):
        assert not {m for m in imports(path) if under(m, "webhooks")}, path


def test_the_inbox_imports_only_the_pure_envelope_from_the_mirror() -> None:
    for path in room("worker/inbox"):
        mirror = {m for m in imports(path) if under(m, "worker.mirror")}
        assert all(under(m, "worker.mirror.events") for m in mirror), path


def test_dev_tooling_imports_nothing_else_of_worker() -> None:
    for path in room("worker/dev"):
        found = imports(path)
        assert all(under(m, "worker.dev") for m in found if under(m, "worker")), path


def test_the_mirror_imports_only_the_pure_hash_from_privacy() -> None:
    for path in room("worker/mirror"):
        privacy = {m for m in imports(path) if under(m, "worker.privacy")}
        # "from worker.privacy import pii" names the package too; its __init__ is a docstring.
        assert all(m == "worker.privacy" or under(m, "worker.privacy.pii") for m in privacy), path


def test_the_operators_room_imports_no_other_room() -> None:
    rooms = ("worker.mirror", "worker.inbox", "worker.backfill", "worker.cli", "worker.dev")
    rooms += ("worker.privacy", "worker.app", "worker.tasks", "webhooks")
    for path in room("worker/operators"):
        assert not {m for m in imports(path) if under(m, *rooms)}, path


def test_the_hash_imports_no_framework_and_nothing_of_worker() -> None:
    found = imports(ROOT / "worker" / "privacy" / "pii.py")
    assert not {m for m in found if under(m, *FRAMEWORKS, "worker")}


def test_privacy_imports_only_the_mirror_and_the_inbox() -> None:
    # Of the rooms; the shared modules (worker.mask among them) import no room.
    rooms = ("worker.backfill", "worker.cli", "worker.dev", "worker.app", "worker.tasks")
    for path in room("worker/privacy"):
        found = {m for m in imports(path) if under(m, "worker")}
        assert not {m for m in found if under(m, *rooms)}, path
        assert all(m == "worker" or under(m, "worker.privacy", "worker.mirror", "worker.inbox")
                   or m.count(".") == 1 for m in found), path  # fmt: skip


@pytest.mark.parametrize(
    "shared",
    [
        "config",
        "db",
        "directories",
        "logs",
        "mask",
        "metrics",
        "migrate",
        "reports",
        "sqlfiles",
        "task_names",
        "variables",
    ],
)
def test_shared_modules_import_no_room(shared: str) -> None:
    rooms = ("worker.mirror", "worker.inbox", "worker.backfill", "worker.cli", "worker.dev")
    rooms += ("worker.privacy", "worker.operators")
    assert not {m for m in imports(ROOT / "worker" / f"{shared}.py") if under(m, *rooms)}


def _sql_constants(path: Path) -> list[str]:
    """Every string literal of a module (its SQL constants among them)."""
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def writers_of(table: str) -> set[str]:
    """The modules whose SQL inserts into, updates or deletes from a table."""
    write = re.compile(rf"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+{re.escape(table)}\b", re.I)
    return {
        str(path.relative_to(ROOT))
        for path in [*room("webhooks"), *room("worker")]
        if any(write.search(text) for text in _sql_constants(path))
    }


def test_the_inbox_is_written_only_through_worker_inbox() -> None:
    writers = writers_of("clerk.webhook_events")
    assert writers
    assert all(w.startswith("worker/inbox/") for w in writers), writers


@pytest.mark.parametrize(
    ("table", "module"),
    [
        ("clerk.phone_number_history", "worker/mirror/phone_history.py"),
        ("clerk.user_history", "worker/mirror/user_history.py"),
    ],
)
def test_each_history_is_written_only_through_its_module(table: str, module: str) -> None:
    # Erasure and rehash included: they write phone history through phone_history.
    assert writers_of(table) == {module}


def test_the_forget_update_is_stated_once() -> None:
    forgets = [
        (str(path.relative_to(ROOT)), text)
        for path in [*room("webhooks"), *room("worker")]
        for text in _sql_constants(path)
        if re.search(r"\bSET\s+payload\s*=\s*NULL\s*,", text)
    ]
    assert [where for where, _ in forgets] == ["worker/inbox/queries.py"]


def test_backfill_runs_are_read_only_through_sync_runs() -> None:
    readers = {
        str(path.relative_to(ROOT))
        for path in [*room("webhooks"), *room("worker")]
        if any("clerk.sync_runs" in text for text in _sql_constants(path))
    }
    assert readers == {"worker/backfill/sync_runs.py"}


# Each process reads its settings once, here, and hands them down (worker.config).
ENTRY_POINTS = ("webhooks/__init__.py", "worker/app.py", "worker/cli/main.py", "worker/dev/run.py")
ENVIRONMENT = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def _environment_uses(path: Path) -> list[int]:
    """Lines where a file reads or writes the process environment."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [node.lineno for alias in node.names if alias.name in ENVIRONMENT]
    return found


def test_only_config_and_the_entry_points_touch_the_environment() -> None:
    allowed = {ROOT / "worker" / "config.py", *(ROOT / p for p in ENTRY_POINTS)}
    touching = {
        str(path.relative_to(ROOT))
        for path in [*room("webhooks"), *room("worker")]
        if _environment_uses(path)
    }
    assert touching <= {str(p.relative_to(ROOT)) for p in allowed}
    assert "worker/config.py" in touching  # the check sees what it looks for


def test_the_web_starts_without_building_the_celery_app(database_url: str, redis_url: str) -> None:
    # A worker-only setting that is malformed must not stop the web process.
    script = (
        "import sys, webhooks\n"
        "app = webhooks.create_app()\n"
        "app.extensions['clerk_mirror'].close()\n"
        "assert 'worker.app' not in sys.modules and 'worker.tasks' not in sys.modules\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": TEST_SECRET,
        "CLERK_MIRROR_RETENTION_DAYS": "a month",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _connection_calls(path: Path) -> list[str]:
    """Each psycopg.connect(...) and each ConnectionPool(...) whose conninfo is not ours."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        first = ast.unparse(node.args[0]) if node.args else ""
        if func == "psycopg.connect" or (
            func.endswith("ConnectionPool") and not first.startswith(("conninfo(", "db.conninfo("))
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_connection_is_opened_through_worker_db() -> None:
    # worker.db sets the session (TimeZone=UTC). worker.dev may not import it: its
    # connections only probe a server and create a database.
    paths = [*room("webhooks"), *room("worker"), *room("bench")]
    allowed = {ROOT / "worker" / "db.py", *room("worker/dev")}
    assert [call for p in paths if p not in allowed for call in _connection_calls(p)] == []


def test_the_mask_imports_no_framework_and_nothing_of_worker() -> None:
    found = imports(ROOT / "worker" / "mask.py")
    assert not {m for m in found if under(m, *FRAMEWORKS, "worker")}
