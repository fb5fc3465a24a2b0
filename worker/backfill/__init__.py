"""Backfill and reconcile from Clerk's Backend API: the client, the paging run, its ledger.

It writes through worker.inbox and worker.mirror exactly as a webhook does; the local fake
API (fake_clerk) stands in for Clerk in tests and demos.
"""
