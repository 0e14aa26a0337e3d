"""What a small producer installs to join a pool: the SDK, the candidate builder, the daemon."""

from producer_client.client import Client, PoolError

__all__ = ["Client", "PoolError"]
