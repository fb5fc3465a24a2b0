"""Every environment variable the processes read: its default, what it means, who reads it.

worker.config parses exactly these (tests/test_config.py holds the two to each other, and
the Procfile to both); the docs' configuration page and the tests' scrub list are made
from this list. `processes` names who reads a variable: web, worker, beat and cli (the
clerk-mirror command), or all of them. The worker and beat import one Celery app, so each
parses the other's variables too; the web parses only its own, so that a bad worker-only
setting never stops it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

WEB, WORKER, BEAT, CLI = "web", "worker", "beat", "cli"
PROCESSES = (WEB, WORKER, BEAT, CLI)
# One module, worker.app, is both the worker's and beat's entry point.
CELERY = (WORKER, BEAT)


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str
    meaning: str
    processes: str

    def read_by(self, processes: Collection[str]) -> bool:
        """True when any of these processes reads this variable."""
        mine = PROCESSES if self.processes == "all" else self.processes.split(", ")
        return any(process in mine for process in processes)


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "DATABASE_URL",
        "none",
        "The mirror's Postgres, as a libpq URL or connection string. The web and the worker"
        " need it; `status` and `report` fall back to `make run`'s database without it.",
        "web, worker, cli",
    ),
    Variable(
        "REDIS_URL",
        "redis://localhost:6379/0",
        "The Celery broker. It carries only wake-ups: the events wait in Postgres. The"
        " console keeps its sessions and its log-in throttle there too (`clerk-mirror console"
        " unlock` clears the throttle).",
        "web, worker, beat, cli",
    ),
    Variable(
        "CLERK_WEBHOOK_SIGNING_SECRET",
        "none",
        "The endpoint's `whsec_...` signing secret; several, separated by spaces or commas,"
        " during a rotation. The web refuses to start without one; `send-sample` signs with"
        " the first.",
        "web, cli",
    ),
    Variable(
        "CLERK_SECRET_KEY",
        "none",
        "The instance's `sk_...` Backend API key, for `backfill` and the periodic reconciliation.",
        "worker, cli",
    ),
    Variable(
        "CLERK_API_URL",
        "https://api.clerk.com/v1",
        "The base URL of Clerk's Backend API.",
        "worker, cli",
    ),
    Variable(
        "CLERK_API_RATE_LIMIT",
        "900/10",
        "Client-side limit on Backend API calls, as requests/seconds: below Clerk's production"
        " limit of 1000 per 10 s (90/10 suits a development instance); `off` for none.",
        "worker, cli",
    ),
    Variable(
        "CLERK_MIRROR_QUEUE",
        "clerk_mirror",
        "The Celery queue on which the web wakes the worker (the Procfile's worker consumes"
        " it). It also names the default metrics directory and beat schedule, and prefixes"
        " the console's keys in Redis, so that two deployments on one host or one Redis keep"
        " apart.",
        "web, worker, beat, cli",
    ),
    Variable(
        "PORT",
        "8000",
        "The port the web listens on (the Procfile's gunicorn binds it); `send-sample` posts"
        " to it.",
        "web, cli",
    ),
    Variable(
        "WEB_HOST",
        "0.0.0.0",  # noqa: S104  # platforms route to it; make run sets 127.0.0.1
        "The address the web binds (the Procfile's gunicorn): every interface, as platforms"
        " expect; `make run` sets 127.0.0.1. Expose the web through a buffering proxy.",
        "web",
    ),
    Variable(
        "WEB_CONCURRENCY",
        "3",
        "Web processes (gunicorn workers), read by the Procfile's web line.",
        "web",
    ),
    Variable(
        "WEB_THREADS",
        "4",
        "Threads per web process, and so the size of each one's database pool. The Procfile"
        " hands it to gunicorn's --threads: set threads here, not in gunicorn.",
        "web",
    ),
    Variable(
        "CELERY_CONCURRENCY",
        "2",
        "Processes of the Celery worker, read by the Procfile's worker line.",
        "worker",
    ),
    Variable(
        "CLERK_MIRROR_MAX_BODY_BYTES",
        "1048576",
        "The largest webhook body accepted; a larger one is answered 413 and not stored.",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_READ_TIMEOUT",
        "10",
        "Seconds a client has to send a whole request (headers, and a body up to the size"
        " limit) and to take the answer; a slower one is cut off with 408. The web reads"
        " requests before a thread serves them, so slow clients never hold its threads.",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_CONSOLE_PASSWORD",
        "none",
        "Turns the operator's console at /console/ on. It is the shared password, one way"
        " in beside the operators' own accounts (`clerk-mirror console add`). Unset,"
        " /console/ answers 404.",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_CONSOLE_SECRET",
        "none",
        "A random secret of at least 32 characters that signs the console's device cookies"
        " and keys its sessions' check of the shared password. With the console on, the web"
        " refuses to start without it; `make run` keeps one in .data/.",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_TRUSTED_PROXIES",
        "none",
        "Addresses or networks (CIDR), separated by spaces or commas, of the proxies in front"
        " of the web. Only a request from one of them has its X-Forwarded-For and"
        " X-Forwarded-Proto believed (the client's address, HTTPS for Secure cookies), and"
        " its CLERK_MIRROR_CONSOLE_USER_HEADER.",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_CONSOLE_USER_HEADER",
        "none",
        "The header by which an authenticating proxy names its signed-in user, such as"
        " oauth2-proxy's `X-Forwarded-Email`: the console lets that user in without a"
        " password. Believed only from CLERK_MIRROR_TRUSTED_PROXIES, which it requires.",
        "web",
    ),
    Variable(
        "CLERK_MIRROR_PII_KEY",
        "none",
        "Key of phone_number_hash, an HMAC-SHA256 of each number. Unset, the hash is NULL"
        " until `clerk-mirror rehash` fills it. The web reads it for the console's Replay.",
        "web, worker, cli",
    ),
    Variable(
        "CLERK_MIRROR_ERASE_DELETED_AFTER_DAYS",
        "30",
        "Erase a deleted user's personal data this many days after the deletion; `0` at"
        " once (within a sweep interval), `off` never.",
        "worker, beat",
    ),
    Variable(
        "CLERK_MIRROR_RETENTION_DAYS",
        "30",
        "Drop the raw payload of processed and ignored events this many days after they"
        " closed (failed and dead ones keep theirs); `0` keeps every payload.",
        "worker, beat",
    ),
    Variable(
        "CLERK_MIRROR_INBOX_KEEP_DAYS",
        "none",
        "Remove processed and ignored inbox rows this many days after they were received"
        " and closed, once their payload is purged; at least `3` (Svix redelivers for"
        " about 3 days). Failed, dead and pending rows stay. Unset keeps every row.",
        "worker, beat",
    ),
    Variable(
        "CLERK_MIRROR_SWEEP_INTERVAL",
        "30",
        "Seconds between beat's sweeps for pending events whose wake-up was lost.",
        "beat",
    ),
    Variable(
        "CLERK_MIRROR_SWEEP_GRACE",
        "10",
        "Seconds an event may wait in the inbox before a sweep wakes a worker for it.",
        "worker",
    ),
    Variable(
        "CLERK_MIRROR_RECONCILE_INTERVAL",
        "0",
        "Seconds between reconciling backfills, which also tombstone the users Clerk no"
        " longer has; `0` turns them off.",
        "beat",
    ),
    Variable(
        "LOG_FORMAT",
        "auto",
        "`json` or `text`. `auto` (or unset): text when stderr is a terminal, JSON otherwise.",
        "all",
    ),
    Variable(
        "XDG_STATE_HOME",
        "~/.local/state",
        "The running user's state directory. The app keeps its own in clerk-mirror/ under"
        " it, created 0700: the default beat schedule and metrics directory.",
        "web, worker, beat",
    ),
    Variable(
        "CELERY_BEAT_SCHEDULE",
        "$XDG_STATE_HOME/clerk-mirror/beat-schedule-$CLERK_MIRROR_QUEUE",
        "Beat's schedule file. It is a pickle, so whoever can write it runs code as beat:"
        " beat refuses a directory that another user owns or may write to.",
        "beat",
    ),
    Variable(
        "PROMETHEUS_MULTIPROC_DIR",
        "$XDG_STATE_HOME/clerk-mirror/metrics-$CLERK_MIRROR_QUEUE",
        "Where every web and worker process on a host writes its metrics, which the web's"
        " /metrics sums. Created 0700 when missing; refused unless the running user owns it"
        " and no one else may use it.",
        "web, worker",
    ),
    Variable(
        "CLERK_MIRROR_METRICS_PORT",
        "none",
        "A port on which the worker serves its host's metric files at /metrics, for hosts"
        " with no web process (the web host's /metrics serves them otherwise). Off when unset.",
        "worker",
    ),
)
