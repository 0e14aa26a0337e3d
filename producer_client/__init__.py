"""producer_client package."""
