"""clerk-mirror send-sample: POST a freshly signed sample Clerk event to a running endpoint."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import click
import httpx
from svix.webhooks import Webhook

from worker.cli.common import settings

SAMPLES = {
    "created": "user.created__unverified_phone.json",
    "verified": "user.updated__phone_verified.json",
    "2fa": "user.updated__2fa_enabled.json",
    "deleted": "user.deleted.json",
    "sms": "sms.created__verification_code.json",
}
# --type names the event type instead: the sample of that type.
TYPES = {
    "user.created": "created",
    "user.updated": "verified",
    "user.deleted": "deleted",
    "sms.created": "sms",
}
# Where `make run` keeps the secret it generated when none was set.
DEV_SECRET_FILE = Path(".data") / "dev-signing-secret"


def default_url() -> str:
    return f"http://127.0.0.1:{settings().port}/webhooks/clerk"


def default_secret() -> str | None:
    """The first CLERK_WEBHOOK_SIGNING_SECRET (any of them verifies), else make run's own."""
    secrets = settings().signing_secrets
    if secrets:
        return secrets[0]
    try:
        return DEV_SECRET_FILE.read_text().strip() or None
    except OSError:
        return None


def signed_sample(event: str, secret: str, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The sample as Svix would deliver it now: a new svix-id, and newer than any sent before."""
    sample = resources.files("worker.cli").joinpath("samples", SAMPLES[event])
    payload = json.loads(sample.read_text())
    millis = int(now.timestamp() * 1000)
    payload["timestamp"] = millis
    # Newest wins in the mirror: a resent snapshot must carry a newer updated_at to change it.
    if "updated_at" in payload["data"]:
        payload["data"]["updated_at"] = millis
    # Each SMS sample is a new message, sent now (its code never reaches the mirror).
    if "created_at_ms" in payload["data"]:
        payload["data"]["created_at_ms"] = millis
        payload["data"]["id"] = f"sms_sample_{uuid.uuid4().hex}"
    body = json.dumps(payload)
    msg_id = f"msg_sample_{uuid.uuid4().hex}"
    headers = {
        "content-type": "application/json",
        "svix-id": msg_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(secret).sign(msg_id, now, body),
    }
    return body.encode(), headers


@click.command()
@click.option(
    "--url", default=default_url, show_default="http://127.0.0.1:${PORT:-8000}/webhooks/clerk"
)
@click.option(
    "--secret",
    default=default_secret,
    show_default="CLERK_WEBHOOK_SIGNING_SECRET, else .data/dev-signing-secret",
    help="The endpoint's whsec_... signing secret.",
)
@click.option(
    "--event",
    type=click.Choice(sorted(SAMPLES)),
    default="created",
    show_default=True,
    help="Which sample; after `deleted` the sample user stays deleted (deletion is terminal).",
)
@click.option(
    "--type",
    "event_type",
    type=click.Choice(sorted(TYPES)),
    help="The sample of this event type instead (sms.created: a verification-code SMS).",
)
def send_sample(url: str, secret: str | None, event: str, event_type: str | None) -> None:
    """Sign a sample Clerk event and POST it, as Svix would."""
    if event_type is not None:
        event = TYPES[event_type]
    if not secret:
        raise click.UsageError(
            "no signing secret: pass --secret or set CLERK_WEBHOOK_SIGNING_SECRET"
        )
    body, headers = signed_sample(event, secret, datetime.now(UTC))
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach {url}: {exc}") from None
    click.echo(f"{response.status_code} {headers['svix-id']} {response.text.strip()}")
    if response.is_error:
        raise SystemExit(1)
