"""`python -m worker.fake_clerk`, the documented command; the fake lives in worker.backfill."""

from __future__ import annotations

from worker.backfill.fake_clerk import main

if __name__ == "__main__":
    main()
