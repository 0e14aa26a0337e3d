"""Three chain nodes as real processes on loopback, three producers in the schedule.

All nodes agree on head and LIB; stopping one producer's node makes its slots gaps, gets it
jailed after the liveness window and removed from the next schedule; restarting it and
unjailing brings it back.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.procs import BPPOOL, Processes, free_port_block, get_json, init_chain, post_json, wait_for

pytestmark = pytest.mark.e2e

PRODUCERS = ("alpha", "beta", "gamma")


def info(url: str) -> dict:
    return post_json(url, "/v1/chain/get_info", {})


def schedule(url: str) -> list[str]:
    data = post_json(url, "/v1/chain/get_producer_schedule", {})
    return [p["producer_name"] for p in data["active"]["producers"]]


def producer(url: str, name: str) -> dict:
    return post_json(url, "/v1/chain/get_account", {"account_name": name})["producer"]


def agree(urls: list[str]) -> bool:
    """All nodes hold the same block at the lowest LIB among them, and LIB > 0."""
    infos = [info(u) for u in urls]
    lib = min(i["last_irreversible_block_num"] for i in infos)
    if lib == 0:
        return False
    ids = {get_json(u, "/v1/chain/get_block", block_num_or_id=lib)["id"] for u in urls}
    heads = [i["head_block_num"] for i in infos]
    return len(ids) == 1 and max(heads) - min(heads) <= 2


def test_three_node_network(tmp_path: Path, procs: Processes) -> None:
    base = free_port_block(3)
    urls = [f"http://127.0.0.1:{base + i}" for i in range(3)]
    net = tmp_path / "net"
    # A start delay long enough for all three processes to be up before the first slot: a
    # node still importing at genesis misses its first slots and (with a 6-slot liveness
    # window) is jailed before the test looks.
    init_chain(net, base, start_delay=6, slot_ms=250, liveness_window=6, jail_slots=24)
    for name in PRODUCERS:
        procs.start(name, ["chain", "node", "--config", str(net / "nodes" / f"{name}.toml")])

    # All three produce and agree on head and LIB.
    wait_for(lambda: all(info(u)["head_block_num"] >= 40 for u in urls), 60, "40 blocks on every node")
    wait_for(lambda: agree(urls), 20, "the nodes to agree on the LIB block")
    assert schedule(urls[0]) == list(PRODUCERS)

    # Stop gamma's node: its slots become gaps, it is jailed, then dropped from the schedule.
    procs.stop("gamma")
    alive = urls[:2]
    wait_for(lambda: producer(urls[0], "gamma")["jailed"], 60, "gamma to be jailed")
    assert producer(urls[0], "gamma")["missed_slots"] >= 4
    wait_for(
        lambda: all(schedule(u) == ["alpha", "beta"] for u in alive),
        90,
        "gamma out of the schedule",
    )
    wait_for(lambda: agree(alive), 20, "alpha and beta to agree")
    jailed_until = producer(urls[0], "gamma")["jailed_until"]

    # Restart gamma's node: it catches up from its peers.
    procs.start("gamma", ["chain", "node", "--config", str(net / "nodes" / "gamma.toml")])
    wait_for(
        lambda: info(urls[2])["head_block_num"] >= info(urls[0])["head_block_num"] - 2,
        60,
        "gamma's node to catch up",
    )
    wait_for(lambda: info(urls[0])["current_slot"] > jailed_until, 60, "the jail period to end")

    # Unjail through gamma's own node (it gossips the transaction to its peers).
    result = subprocess.run(
        [*BPPOOL, "chain", "unjail", "--key", str(net / "keys" / "gamma.json"), "--url", urls[2]],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(lambda: not producer(urls[0], "gamma")["jailed"], 30, "gamma to be unjailed")
    wait_for(lambda: all(schedule(u) == list(PRODUCERS) for u in urls), 90, "gamma back in the schedule")
    before = producer(urls[0], "gamma")["produced_blocks"]
    wait_for(lambda: producer(urls[0], "gamma")["produced_blocks"] > before, 60, "gamma producing again")
    wait_for(lambda: agree(urls), 30, "all three to agree again")

    # Bad input to a live node: answered with a 4xx naming it, nothing stored.
    import httpx

    r = httpx.post(urls[0] + "/v1/chain/push_transaction", content=b"{oops", timeout=5)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed"
    metrics = httpx.get(urls[0] + "/metrics", timeout=5).text
    assert 'bppool_chain_missed_slots_total{producer="gamma"}' in metrics
