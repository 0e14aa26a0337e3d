"""The emitter's HTTP API."""
