"""The pool protocol's signature domains (the chain's own are in :mod:`chain.core.crypto`).

Each message kind members, the emitter and the DAC sign has its own domain, so no signature
of one kind can be replayed as another (see :func:`chain.core.crypto.compute_signing_digest`).
"""

from __future__ import annotations

from typing import Final

DOMAIN_VOTE: Final = b"bppool/vote/v1"
DOMAIN_REQUEST: Final = b"bppool/request/v1"
DOMAIN_STATEMENT: Final = b"bppool/statement/v1"
DOMAIN_APPLICATION: Final = b"bppool/application/v1"
DOMAIN_RULING: Final = b"bppool/ruling/v1"
DOMAIN_CONSTITUTION: Final = b"bppool/constitution/v1"

POOL_DOMAINS: Final = frozenset(
    {DOMAIN_VOTE, DOMAIN_REQUEST, DOMAIN_STATEMENT, DOMAIN_APPLICATION, DOMAIN_RULING, DOMAIN_CONSTITUTION}
)
