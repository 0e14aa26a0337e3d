"""How the devnet starts each of its processes: tied to the devnet's life, loaded before the genesis.

``python -m bppool.devnet_child --parent PID --preload MODULES --loaded FILE --genesis FILE -- ARGS``
runs the command ``bppool ARGS`` in this process, after:

1. tying its life to the devnet's (process PID), however the devnet ends (SIGKILL included):
   on Linux the kernel sends SIGTERM the moment the devnet is gone (``PR_SET_PDEATHSIG``);
   everywhere, a watchdog thread notices it, sends SIGTERM itself, and ends the process if it
   is still there ``GRACE_S`` seconds later (a graceful stop that hangs must not outlive it);
2. importing MODULES, the slow part of a process start, then creating FILE to say so;
3. waiting for the genesis file, which the devnet writes once every process is loaded, so the
   chain's first slots come when everyone is there rather than while they start.

The kernel ties ``PR_SET_PDEATHSIG`` to the thread that started the process, not to the whole
process: the devnet starts its processes from its main thread.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

GRACE_S = 15.0
PR_SET_PDEATHSIG = 1


def child_command(
    *, parent: int, loaded: Path, genesis: Path, args: Sequence[str], preload: Sequence[str] = ()
) -> list[str]:
    """The command line that runs ``bppool ARGS`` through this module (see its docstring)."""
    return [
        sys.executable,
        "-m",
        "bppool.devnet_child",
        "--parent",
        str(parent),
        *(["--preload", ",".join(preload)] if preload else []),
        "--loaded",
        str(loaded),
        "--genesis",
        str(genesis),
        "--",
        *args,
    ]


def die_with_parent(parent: int) -> None:
    """SIGTERM this process when ``parent`` ends; exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The parent may have ended before the request above: then nothing would come.
    if os.getppid() != parent:
        sys.exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(1)


def wait_for_file(path: Path, timeout: float) -> bool:
    """Whether ``path`` appeared within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, do the three steps above, then run the bppool command."""
    parser = argparse.ArgumentParser(prog="python -m bppool.devnet_child")
    parser.add_argument("--parent", type=int, required=True, help="the devnet's process id")
    parser.add_argument("--preload", default="", help="modules to import first, comma-separated")
    parser.add_argument("--loaded", type=Path, required=True, help="file to create once loaded")
    parser.add_argument("--genesis", type=Path, required=True, help="genesis file to wait for")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the genesis")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the bppool command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    die_with_parent(args.parent)
    for module in filter(None, args.preload.split(",")):
        importlib.import_module(module)
    args.loaded.touch()
    if not wait_for_file(args.genesis, args.timeout):
        sys.exit(f"no genesis at {args.genesis} after {args.timeout:.0f} s")
    from bppool.cli import main as bppool_main

    sys.argv = ["bppool", *command]
    bppool_main()


if __name__ == "__main__":
    main()
