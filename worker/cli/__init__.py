"""clerk-mirror, the operator's command line: the click group (main) and a module a command.

The top of the dependency order: it may import every other room, and none imports it.
"""
