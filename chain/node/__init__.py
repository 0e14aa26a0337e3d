"""The chain node service: block production, sync, the mempool, the block store and its HTTP API."""
