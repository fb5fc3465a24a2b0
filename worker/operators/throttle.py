"""The console's log-in throttle, kept in Redis so that every web process and host shares it.

Attempts are counted per account, never per address: rotating addresses buys an attacker
nothing. Each attempt is reserved before its password is checked (limits' moving window,
one atomic script), so concurrent requests cannot slip past the count. Three budgets:

- ACCOUNT: attempts at one account (an operator's name, or the shared password) from
  browsers not known for it. Every name has one, existing or not, so a refusal never tells
  which names exist.
- EVERYONE: all such attempts together, whatever name they try: the bound on the total
  guess rate.
- DEVICE: a browser that signed in to the account before (a device cookie signed with the
  console's secret) has a budget of its own, so that an attacker who exhausts the others,
  even from the operator's own address, cannot keep the operator out. `clerk-mirror
  console unlock` clears the counts.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import limits
import redis
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

ACCOUNT = limits.parse("10/15 minutes")
EVERYONE = limits.parse("100/15 minutes")
DEVICE = limits.parse("10/15 minutes")
SHARED = "shared"


def console_keys(queue: str) -> str:
    """The prefix of a deployment's console keys in Redis: sessions and throttle."""
    return f"clerk_mirror:{queue}:console"


def account_key(name: str | None) -> str:
    """The throttle's name for an account: the shared password's, or a digest of a name
    (any text a form sends, so it is bounded and never splits a key)."""
    if not name:
        return SHARED
    return "operator-" + hashlib.sha256(name.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Attempt:
    account: str  # account_key()
    device: str | None  # the id of a device cookie valid for this account, if any


class Throttle:
    """The three budgets, under a key prefix of this deployment's own."""

    def __init__(self, client: redis.Redis[bytes], url: str, prefix: str) -> None:
        self.storage = RedisStorage(url, connection_pool=client.connection_pool, key_prefix=prefix)
        self.window = MovingWindowRateLimiter(self.storage)

    def admit(self, attempt: Attempt) -> float | None:
        """Reserve one check for this attempt; None when admitted, else seconds to wait."""
        budgets: list[tuple[limits.RateLimitItem, tuple[str, ...]]]
        if attempt.device is not None:
            budgets = [(DEVICE, ("device", attempt.device))]
        else:
            budgets = [(ACCOUNT, ("account", attempt.account)), (EVERYONE, ("everyone",))]
        for item, ids in budgets:
            if not self.window.hit(item, *ids):
                reset = self.window.get_window_stats(item, *ids).reset_time
                return max(1.0, reset - time.time())
        return None

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: the budget it drew from starts afresh."""
        if attempt.device is not None:
            self.window.clear(DEVICE, "device", attempt.device)
        else:
            self.window.clear(ACCOUNT, "account", attempt.account)

    def unlock(self, name: str | None = None, *, everything: bool = False) -> None:
        """Clear an account's count and the total (clerk-mirror console unlock); or all."""
        if everything:
            self.storage.reset()
            return
        self.window.clear(ACCOUNT, "account", account_key(name))
        self.window.clear(EVERYONE, "everyone")
