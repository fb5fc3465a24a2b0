"""The worker side: Celery wiring (app, tasks, wakeup) and what every room shares.

Rooms: mirror/ (the rules and their writes), inbox/ (the durable inbox), backfill/ (Clerk's
Backend API), cli/ (clerk-mirror), dev/ (local Postgres and Redis). Shared modules here
(config and the variables it parses, directories, db, logs, mask, metrics, migrate, reports,
sqlfiles, task_names) import no room; nothing imports webhooks.
"""
