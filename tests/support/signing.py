"""Svix signatures made as Clerk's sender makes them, with the test secrets."""

from __future__ import annotations

from datetime import UTC, datetime

from svix.webhooks import Webhook

TEST_SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLWNsZXJrLW1pcnJvcg=="
# A second secret, as during a rotation.
OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LWZvci1yb3RhdGlvbi10ZXN0"


def sign(
    body: bytes, msg_id: str, *, secret: str = TEST_SECRET, at: datetime | None = None
) -> dict[str, str]:
    """Real svix headers for a body, as Clerk's sender would produce them."""
    at = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": signature,
        "content-type": "application/json",
    }
