"""Privacy: the keyed hash of a number (pii), and erasure of a person's data (erase).

pii is pure (standard library only) and the one part the mirror may import; erase takes a
psycopg connection and may import worker.mirror and worker.inbox.
"""
