"""licence_registry."""
