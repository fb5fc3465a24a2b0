"""What tests import: signed bodies, databases, crafted events, processes. Never a conftest."""
