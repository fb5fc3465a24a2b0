"""worker.config: the list of variables and the code that parses them agree, and bad values
stop a process in one line that names the variable."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.environment import PROJECT_VARS
from worker import config
from worker.variables import PROCESSES, VARIABLES, Variable

ROOT = Path(__file__).parent.parent
NAMES = {v.name for v in VARIABLES}


class Recorder(dict[str, str]):
    """An environment that notes every variable read from it."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def read_by_config(processes: tuple[str, ...] = PROCESSES) -> set[str]:
    env = Recorder()
    config.from_env(env, processes)
    return env.read


def procfile_reads() -> set[str]:
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", (ROOT / "Procfile").read_text()))


def test_the_variable_list_has_the_agreed_shape() -> None:
    assert dataclasses.is_dataclass(Variable)
    assert [f.name for f in dataclasses.fields(Variable)] == [
        "name",
        "default",
        "meaning",
        "processes",
    ]
    assert Variable.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert len(NAMES) == len(VARIABLES)
    for v in VARIABLES:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", v.name)
        assert v.default
        assert v.meaning.endswith(".")
        assert v.processes == "all" or set(v.processes.split(", ")) <= set(PROCESSES), v


def test_every_listed_variable_is_parsed_or_read_by_the_procfile_and_no_other_is_read() -> None:
    parsed, procfile = read_by_config(), procfile_reads()
    assert parsed <= NAMES, parsed - NAMES
    assert procfile <= NAMES, procfile - NAMES
    assert parsed | procfile == NAMES, NAMES - parsed - procfile


@pytest.mark.parametrize("process", PROCESSES)
def test_each_process_parses_exactly_the_variables_listed_for_it(process: str) -> None:
    procfile_only = procfile_reads() - read_by_config()
    listed = {v.name for v in VARIABLES if v.read_by((process,))} - procfile_only
    assert read_by_config((process,)) == listed


def test_reading_a_variable_missing_from_the_list_is_a_bug_caught_at_once() -> None:
    reader = config._Reader({}, PROCESSES)
    with pytest.raises(KeyError, match=r"worker\.variables"):
        reader.text("CLERK_MIRROR_SOMETHING_NEW")


def test_the_tests_scrub_every_listed_variable() -> None:
    assert set(PROJECT_VARS) == NAMES


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("REDIS_URL", "redis_url"),
        ("CLERK_API_URL", "clerk_api_url"),
        ("CLERK_MIRROR_QUEUE", "queue"),
        ("PORT", "port"),
        ("WEB_THREADS", "web_threads"),
        ("CLERK_MIRROR_MAX_BODY_BYTES", "max_body_bytes"),
        ("CLERK_MIRROR_READ_TIMEOUT", "read_timeout_s"),
        ("CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS", "erase_after_days"),
        ("CLERK_MIRROR_RETENTION_DAYS", "retention_days"),
        ("CLERK_MIRROR_SWEEP_INTERVAL", "sweep_interval_s"),
        ("CLERK_MIRROR_SWEEP_GRACE", "sweep_grace_s"),
        ("CLERK_MIRROR_RECONCILE_INTERVAL", "reconcile_interval_s"),
    ],
)
def test_the_documented_default_is_the_parsed_default(name: str, field: str) -> None:
    documented = next(v.default for v in VARIABLES if v.name == name)
    default = getattr(config.from_env({}), field)
    assert default == getattr(config.from_env({name: documented}), field)
    assert str(default).removesuffix(".0") == documented


def test_the_default_paths_are_in_the_apps_own_state_directory(tmp_path: Path) -> None:
    settings = config.from_env({"XDG_STATE_HOME": str(tmp_path), "CLERK_MIRROR_QUEUE": "q/1"})
    assert settings.metrics_dir == tmp_path / "clerk-mirror" / "metrics-q_1"
    assert settings.beat_schedule == tmp_path / "clerk-mirror" / "beat-schedule-q_1"
    cli = config.from_env({"XDG_STATE_HOME": str(tmp_path)}, (config.CLI,))
    assert (cli.metrics_dir, cli.beat_schedule) == (None, None)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("PORT", "eighty"),
        ("WEB_THREADS", "many"),
        ("CLERK_MIRROR_MAX_BODY_BYTES", "1MB"),
        ("CLERK_MIRROR_READ_TIMEOUT", "0"),
        ("CLERK_MIRROR_READ_TIMEOUT", "soon"),
        ("CLERK_API_RATE_LIMIT", "fast"),
        ("CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS", "a month"),
        ("CLERK_MIRROR_RETENTION_DAYS", "a month"),
        ("CLERK_MIRROR_INBOX_KEEP_DAYS", "2"),
        ("CLERK_MIRROR_INBOX_KEEP_DAYS", "a year"),
        ("CLERK_MIRROR_SWEEP_INTERVAL", "soon"),
        ("CLERK_MIRROR_SWEEP_GRACE", "-1"),
        ("CLERK_MIRROR_RECONCILE_INTERVAL", "nan"),
        ("LOG_FORMAT", "yaml"),
        ("XDG_STATE_HOME", "relative/state"),
    ],
)
def test_a_malformed_setting_stops_in_one_line_naming_the_variable(name: str, bad: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.from_env({name: bad})
    message = str(raised.value)
    assert message.startswith(name)
    assert "\n" not in message
    # A process that does not read it is not stopped by it.
    variable = next(v for v in VARIABLES if v.name == name)
    for process in (p for p in PROCESSES if not variable.read_by([p])):
        config.from_env({name: bad}, (process,))


def test_values_are_parsed_into_what_the_code_uses() -> None:
    settings = config.from_env(
        {
            "CLERK_WEBHOOK_SIGNING_SECRET": "whsec_a, whsec_b",
            "CLERK_API_URL": "https://clerk.example/v1/",
            "CLERK_API_RATE_LIMIT": "off",
            "CLERK_MIRROR_PII_KEY": "  key  ",
            "CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS": "OFF",
            "LOG_FORMAT": " Text ",
            "WEB_THREADS": "0",
        }
    )
    assert settings.signing_secrets == ("whsec_a", "whsec_b")
    assert settings.clerk_api_url == "https://clerk.example/v1"
    assert settings.clerk_api_rate_limit is None
    assert settings.pii_key == b"key"
    assert settings.erase_after_days is None
    assert settings.log_format == "text"
    assert settings.web_threads == 1
    assert config.from_env({"CLERK_MIRROR_PII_KEY": "   "}).pii_key is None
