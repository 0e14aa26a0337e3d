"""A daemon's small server (members, runners): ``/readyz`` names the tasks that are down."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client import CollectorRegistry

from service_shell.daemon import run_with_metrics
from service_shell.httplimits import HttpLimits
from service_shell.supervisor import Supervisor
from tests.helpers.procs import free_port_block


def test_readyz_answers_503_naming_a_task_that_is_down() -> None:
    supervisor = Supervisor(backoff_s=60)  # it stays down for the test
    registry = CollectorRegistry()
    supervisor.register(registry)
    port = free_port_block(1)
    seen: dict[str, object] = {}

    async def main() -> None:
        async def broken() -> None:
            raise ConnectionError("the feed went away")

        async def daemon() -> None:
            supervisor.supervise("slot_feed", broken)
            await asyncio.sleep(3600)

        async def probe() -> None:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        response = await http.get("/readyz")
                        if response.status_code == 503:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "no 503 from /readyz"
                    await asyncio.sleep(0.05)
                seen["readyz"] = response.json()
                seen["metrics"] = (await http.get("/metrics")).text
            runner.cancel()

        runner = asyncio.create_task(
            run_with_metrics(
                daemon(),
                registry=registry,
                host="127.0.0.1",
                port=port,
                health=lambda: {},
                stop=supervisor.stop,
                limits=HttpLimits(),
                supervisor=supervisor,
            )
        )
        await asyncio.gather(runner, probe(), return_exceptions=True)

    asyncio.run(main())
    body = seen["readyz"]
    assert body == {
        "ready": False,
        "reasons": {"tasks_down": {"slot_feed": "ConnectionError: the feed went away"}},
    }
    assert 'bppool_task_failures_total{task="slot_feed"} 1.0' in str(seen["metrics"])
