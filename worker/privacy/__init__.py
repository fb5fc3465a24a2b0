"""Privacy: the keyed hash of a number (pii), erasure of a person (erase), hashes to fill (rehash).

pii is pure (standard library only) and the one part the mirror may import; erase and
rehash take a psycopg connection and may import worker.mirror and worker.inbox.
"""
