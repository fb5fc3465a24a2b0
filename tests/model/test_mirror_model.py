"""The mirror against a plain oracle, under random interleavings of everything that can happen.

A fixed seed runs in every `make test`. `make soak` runs with a random seed for as long as
CLERK_MIRROR_SOAK_MINUTES says, and prints the seed so that a failure can be replayed with
CLERK_MIRROR_MODEL_SEED=<seed> CLERK_MIRROR_MODEL_STEPS=5000.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.model.machine import Machine, describe
from worker import db

FIXED_SEED = 20261201
FIXED_STEPS = 3000


def _run(url: str, seed: int, *, steps: int, seconds: float) -> Machine:
    machine = Machine(url, seed)
    deadline = time.monotonic() + seconds
    try:
        for _ in range(steps):
            machine.step()
            if time.monotonic() > deadline:
                break
        machine.settle()
    except BaseException:
        print(f"model failed: {describe(machine, seed)}")
        raise
    finally:
        machine.close()
    return machine


def test_the_mirror_matches_the_oracle_at_a_fixed_seed(worker_pool: str) -> None:
    seed = int(os.environ.get("CLERK_MIRROR_MODEL_SEED", FIXED_SEED))
    machine = _run(worker_pool, seed, steps=FIXED_STEPS, seconds=float("inf"))
    print(describe(machine, seed))
    assert machine.checks > FIXED_STEPS // 30
    assert all(machine.steps[name] > 0 for name, _ in Machine.STEPS)


@pytest.mark.soak
def test_the_mirror_matches_the_oracle_for_as_long_as_the_soak_runs(
    services: dict[str, str], template_db: str, far_template_db: str
) -> None:
    from tests.support.databases import create_database, drop_database, with_dbname

    minutes = float(os.environ.get("CLERK_MIRROR_SOAK_MINUTES", "30"))
    deadline = time.monotonic() + minutes * 60
    runs = 0
    while time.monotonic() < deadline:
        seed = random.SystemRandom().randrange(2**32)
        print(f"soak run {runs + 1}: seed {seed}", flush=True)
        template = (template_db, far_template_db)[runs % 2]
        name = create_database(services["postgres"], template=template, far=runs % 2 == 1)
        url = with_dbname(services["postgres"], name)
        db.open_pool(url)
        try:
            machine = _run(url, seed, steps=5_000, seconds=deadline - time.monotonic())
        finally:
            db.close_pool()
            drop_database(services["postgres"], name)
        print(describe(machine, seed), flush=True)
        runs += 1
