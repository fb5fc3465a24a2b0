"""The mirror: parse events (events), the newest-wins rules (fold), and writing them (apply).

events and fold are pure: standard library and phonenumbers only, no framework, no driver.
apply, replay, store and bulk take a psycopg connection; they may import worker.inbox.
"""
