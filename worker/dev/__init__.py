"""What make run and make test use to bring up Postgres and Redis; never used in production.

binaries finds or installs server binaries, services starts and stops them by pid, run wraps
a command with them. It imports nothing else of worker.
"""
