"""The console's operators: their own accounts (argon2id hashes in Postgres) and the log-in
throttle every web process shares through Redis. The web's console and the clerk-mirror
console commands both use them."""
