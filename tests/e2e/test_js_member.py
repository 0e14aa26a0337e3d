"""The JavaScript member (``examples/js-member``, written from ``docs/spec/`` alone, Node.js
built-ins only) in a real devnet: it applies, is admitted as a founder, follows the slot feed,
has its node build each candidate, signs and delivers: it wins slots and is never refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.environment import unavailable
from tests.helpers.procs import BPPOOL

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MEMBER = ROOT / "examples" / "js-member" / "member.mjs"
SLOTS = 12  # the JavaScript member's pool slots (the devnet runs more, and stops by itself)


def test_the_javascript_member_wins_slots_and_is_never_refused(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node (Node.js 20) is not installed")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.lstrip("v").split(".")[0]) >= 20, version
    data = tmp_path / "devnet"
    log = (tmp_path / "devnet.log").open("w")
    devnet = subprocess.Popen(
        [
            *BPPOOL,
            "devnet",
            "--members",
            "1",
            "--external-member",
            "jsmember",
            "--slots",
            "60",
            "--data-dir",
            str(data),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped by it below, never by name
    )
    try:
        deadline = time.monotonic() + 180
        while not (data / "external.json").exists():
            assert devnet.poll() is None, (tmp_path / "devnet.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the devnet did not start"
            time.sleep(0.5)
        external = json.loads((data / "external.json").read_text())
        assert set(external["members"]) == {"jsmember"}
        result = subprocess.run(
            [node, str(MEMBER), "--devnet", str(data / "external.json"), "--slots", str(SLOTS), "--json"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"\nJavaScript member: {figures['slots']} pool slots, {figures['deliveries']} deliveries, "
            f"{figures['wins']} wins, {figures['rejections']} rejections {figures['rejected_by']}"
        )
        assert figures["slots"] == SLOTS and figures["deliveries"] >= SLOTS - 1
        assert figures["rejections"] == 0, figures
        assert figures["wins"] > 0, figures
        assert figures["accepted"] == figures["deliveries"]
    finally:
        if devnet.poll() is None:
            os.killpg(devnet.pid, signal.SIGINT)  # the devnet stops its processes on Ctrl-C
            try:
                devnet.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(devnet.pid, signal.SIGKILL)
                devnet.wait(10)
        log.close()


def test_the_javascript_member_signs_every_committed_vector_alike() -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node (Node.js 20) is not installed")
    result = subprocess.run(
        [node, str(MEMBER.parent / "vectors.mjs")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5 and all(" match" in line and "differ" not in line for line in lines), lines
