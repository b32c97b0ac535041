"""seal_service."""
