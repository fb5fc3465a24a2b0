"""`python -m worker.dev run --data DIR -- CMD`: CMD with Postgres and Redis around it."""

from __future__ import annotations

from worker.dev.run import main

raise SystemExit(main())
