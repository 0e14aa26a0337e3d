"""The emitter's prepare requests at its node are signed requests like any other: each one is
new, so a retry of the same body at the same instant is not refused as a replay."""

from __future__ import annotations

import pytest

from chain.core import build_block
from pool_protocol.requests import HEADER_TIMESTAMP
from tests.emitter.conftest import PoolHarness

pytestmark = pytest.mark.anyio


async def test_a_retried_prepare_is_a_new_request(pool: PoolHarness) -> None:
    emitter = pool.emitter
    pool.clock.at_slot(1)
    body = build_block(pool.node.state, slot=1, producer="pool").block.canonical()
    first, again = emitter.delivery.prepare_headers(body), emitter.delivery.prepare_headers(body)
    assert pool.clock.now_ms() == int(first[HEADER_TIMESTAMP])  # the clock did not move
    for headers in (first, again):
        answer = await emitter.pushers[0].prepare_block(body, headers)
        assert answer["prepared"] is True
