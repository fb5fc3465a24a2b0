"""The durable inbox (clerk.webhook_events): insert, claim, close, requeue, select, purge.

It may import worker.mirror.events (the pure envelope of a body), nothing else of the mirror.
"""
