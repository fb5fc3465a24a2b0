"""The worker side: the mirror logic, its Celery tasks, the database and the CLI."""
