"""Route modules of the emitter API."""
