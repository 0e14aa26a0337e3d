"""Reuse the emitter's pool harness (a real node and emitter on loopback)."""

from tests.emitter.conftest import anyio_backend, pool  # noqa: F401
