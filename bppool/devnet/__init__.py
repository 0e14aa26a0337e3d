"""``bppool devnet``: a whole local pool on one machine, with no configuration.

As real processes on free loopback ports: one chain node producing for two solo producers,
the pool service (emitter) holding the pool producer's key, and N pool members with
different simulated latencies and a small failure rate. Keys are generated at run time
(mode 0600). Everyone is funded at genesis; members apply and are admitted. A small
generator sends transfers so blocks carry transactions. A live view shows each pool slot:
who delivered first and at what offset, misses, fallbacks, head and LIB, wins per member.

The pool's DAC runs inside the pool service: the members are its founders (admitted without a
vote), epochs are short (``DAC_EPOCH_SLOTS`` chain slots) so statements and payouts show up
within a minute, and votes are quick (``DAC_VOTING_S`` seconds, ``DAC_TIMELOCK_S`` timelock).

The parts: :mod:`~bppool.devnet.setup` (accounts, keys, genesis, configs),
:mod:`~bppool.devnet.processes` (starting, watching and stopping the processes),
:mod:`~bppool.devnet.traffic` (the transfers), :mod:`~bppool.devnet.view` (the live view and
the summary) and :mod:`~bppool.devnet.runner` (one run, start to end).
"""

from bppool.devnet.processes import Proc
from bppool.devnet.runner import STOP_SIGNALS, Devnet, Stopped, handle_stop_signals, run_devnet
from bppool.devnet.setup import (
    BALANCE,
    DAC_EPOCH_SLOTS,
    DAC_TIMELOCK_S,
    DAC_VOTING_S,
    POOL,
    SOLOS,
    STAKE,
    USERS,
    member_names,
)
from chain.core import format_amount

__all__ = [
    "BALANCE",
    "DAC_EPOCH_SLOTS",
    "DAC_TIMELOCK_S",
    "DAC_VOTING_S",
    "POOL",
    "SOLOS",
    "STAKE",
    "STOP_SIGNALS",
    "USERS",
    "Devnet",
    "Proc",
    "Stopped",
    "format_amount",
    "handle_stop_signals",
    "member_names",
    "run_devnet",
]
