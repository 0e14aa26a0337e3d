"""Reading the genesis document every service starts from.

Apart from the node's module so that a process that only follows the chain (a pool member)
reads its genesis without loading the node's database and web stack.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from chain.core import Genesis
from chain.core.errors import InvalidGenesis


def load_genesis(path: Path) -> Genesis:
    """Read and validate a genesis file."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise InvalidGenesis(
            f"genesis file {path} does not exist (create one with: bppool chain init)"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise InvalidGenesis(f"genesis file {path} is not JSON: {exc}") from None
    return Genesis.from_dict(data)
