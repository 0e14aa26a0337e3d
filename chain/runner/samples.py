"""Sample services shipped with bppool (entry points ``hashing``, ``math`` and ``notary``).

* ``hashing.sha256`` and ``math.factorize`` / ``math.sum`` are deterministic: verifiers
  re-execute them and compare result hashes.
* ``notary.notarize`` is ``external``: the runner writes a record on the chain (a 1-unit
  transfer to itself whose memo carries the text's sha256) and reports the transaction and
  its block; verifiers check that block holds that transaction, from that runner, with that
  memo.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chain.core.containers import Transfer
from chain.core.types import AccountName, Amount
from chain.runner.registry import ServicePackage, TaskContext, TaskError

MAX_FACTORIZE = 10**12
MAX_INT = 2**63 - 1


def sha256(inputs: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    return {"digest": hashlib.sha256(bytes.fromhex(inputs["data"])).hexdigest()}


def factorize(inputs: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    n = inputs["n"]
    if not 2 <= n <= MAX_FACTORIZE:
        raise TaskError(f"cannot factorize {n}: n must be in [2, {MAX_FACTORIZE}]")
    factors, d = [], 2
    while d * d <= n:
        while n % d == 0:
            factors.append(d)
            n //= d
        d += 1 if d == 2 else 2
    if n > 1:
        factors.append(n)
    return {"factors": factors}


def total(inputs: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    result = sum(inputs["values"])
    if abs(result) > MAX_INT:
        raise TaskError("the sum does not fit a 64-bit integer")
    return {"total": result}


def notary_memo(text: str) -> str:
    return "notary:" + hashlib.sha256(text.encode()).hexdigest()


def notarize(inputs: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    tx_id = ctx.send(Transfer(AccountName(ctx.account), Amount(1), notary_memo(inputs["text"])))
    return {"tx_id": tx_id, "block": ctx.wait_for(tx_id, 30.0)}


def check_notarized(execution: dict[str, Any], ctx: TaskContext) -> bool:
    outputs = execution.get("outputs") or {}
    try:
        block = ctx.node.get_block(outputs["block"])
    except Exception:  # noqa: BLE001 - an unknown block or a node error: the effect is not shown
        return False
    memo = notary_memo(execution["inputs"]["text"])
    for tx in block.get("transactions", []):
        if tx["sender"] == execution["runner"] and tx["action"].get("memo") == memo:
            from chain.core import Transaction

            if Transaction.from_dict(tx).id == outputs["tx_id"]:
                return True
    return False


def task_definition(inputs: dict[str, str], outputs: dict[str, str], verification: str) -> dict[str, Any]:
    """A task's entry in a service definition: its typed inputs and outputs, and how verifiers
    check a result (``reexecute`` or ``external``)."""
    return {"inputs": inputs, "outputs": outputs, "verification": verification}


HASHING = ServicePackage(
    definition={
        "name": "hashing",
        "price": 1000,
        "tasks": {"sha256": task_definition({"data": "bytes"}, {"digest": "str"}, "reexecute")},
    },
    tasks={"sha256": sha256},
)

MATH = ServicePackage(
    definition={
        "name": "math",
        "price": 1000,
        "tasks": {
            "factorize": task_definition({"n": "int"}, {"factors": "list[int]"}, "reexecute"),
            "sum": task_definition({"values": "list[int]"}, {"total": "int"}, "reexecute"),
        },
    },
    tasks={"factorize": factorize, "sum": total},
)

NOTARY = ServicePackage(
    definition={
        "name": "notary",
        "price": 2000,
        "tasks": {"notarize": task_definition({"text": "str"}, {"tx_id": "str", "block": "int"}, "external")},
    },
    tasks={"notarize": notarize},
    checks={"notarize": check_notarized},
)
