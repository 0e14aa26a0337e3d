"""Schemas of the node's API, for its OpenAPI (routes answer with orjson and parse bodies
themselves; these models document what goes in and out, see :mod:`service_shell.apidocs`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chain.core.types import ACCOUNT_NAME_PATTERN, HASH_PATTERN, SIGNATURE_PATTERN
from service_shell.apidocs import Open
from service_shell.web import Int64

# --- views (the wire objects themselves are in chain.client.schemas) ------------------------


class BlockView(Open):
    """A block as ``get_block`` answers: the block with its id, number and ISO time."""

    header: dict[str, Any]
    transactions: list[dict[str, Any]]
    id: str
    block_num: int
    timestamp_iso: str


class CommitBlock(BaseModel):
    """A prepared block's id and its producer's signature."""

    block_id: str = Field(pattern=HASH_PATTERN)
    producer_signature: str = Field(pattern=SIGNATURE_PATTERN)


# --- request parameters (EOSIO clients POST them as a JSON object, or pass them in the query) --


class BlockRef(BaseModel):
    """``block_num_or_id``: a height (ASCII digits) or a block id (64 hex)."""

    block_num_or_id: Int64 | str


class AccountRef(BaseModel):
    """``account_name`` (or ``account``)."""

    account_name: str | None = Field(default=None, pattern=ACCOUNT_NAME_PATTERN)
    account: str | None = Field(default=None, pattern=ACCOUNT_NAME_PATTERN)


class BalanceRef(BaseModel):
    """``account`` and, optionally, ``symbol``."""

    account: str = Field(pattern=ACCOUNT_NAME_PATTERN)
    symbol: str | None = None


class ProducersQuery(BaseModel):
    """A page of producers by stake."""

    limit: int = Field(default=50, ge=1, le=1000)
    lower_bound: str = ""


class TableRowsQuery(BaseModel):
    """A page of one state table's records, in the order of their keys' bytes (EOSIO's
    ``get_table_rows``: ``code`` and ``scope`` are accepted and ignored, the chain has one
    of each)."""

    table: str = Field(description="accounts, producers, unbonding, meta, or an execution table")
    lower_bound: str = Field(default="", description="the first key (inclusive)")
    upper_bound: str = Field(default="", description="the last key (inclusive; empty: no bound)")
    limit: int = Field(default=10, ge=1, le=1000)
    json_: bool = Field(
        default=True, alias="json", description="false: the canonical bytes only, no decoded fields"
    )
    code: str = ""
    scope: str = ""


class BuildCandidateRequest(BaseModel):
    """What to build: the pool's slot, its producer (the pool), the builder (the member asking)
    and, from the slot's opening, the mempool sequence number to select up to."""

    slot: int = Field(ge=1, le=2**62)
    producer: str
    builder: str
    tx_seq: int | None = Field(
        default=None, ge=0, le=2**62, description="the slot's tx_seq (none: every pending one)"
    )
    max_transactions: int | None = Field(default=None, ge=0, le=100_000)


class NoParameters(BaseModel):
    """No parameters."""

    model_config = ConfigDict(extra="allow")


# --- answers -----------------------------------------------------------------------------------


class Info(Open):
    """``get_info``."""

    server_version: str
    chain_id: str
    network: str
    head_block_num: int
    head_block_id: str
    head_block_time: str
    head_block_slot: int
    head_block_producer: str
    last_irreversible_block_num: int
    last_irreversible_block_id: str
    genesis_time: int
    slot_ms: int
    symbol: str
    current_slot: int
    mempool_size: int
    producer_accounts: list[str]
    params: dict[str, Any]


class ProducerRow(Open):
    """A producer's record."""

    owner: str
    producer_key: str
    url: str
    total_stake: int
    is_active: bool
    jailed: bool
    tombstoned: bool


class Account(Open):
    """``get_account``."""

    account_name: str
    key: str
    balance: str
    balance_units: int
    nonce: int
    pending_transactions: int
    next_nonce: int
    producer: ProducerRow | None
    delegated: list[dict[str, Any]]
    unbonding: list[dict[str, Any]]


class Producers(Open):
    """``get_producers``."""

    rows: list[ProducerRow]
    total_producer_stake: int
    more: str


class TableRow(Open):
    """One state record: its key, the tree key and value bytes the state root is made of
    (hex), and (with ``json``) its fields by name."""

    key: str
    leaf_key_hex: str
    value_hex: str
    fields: dict[str, Any] | None = None


class TableRows(Open):
    """``get_table_rows``: the records at the head block, and the key to go on from."""

    table: str
    head_block_num: int
    head_block_id: str
    state_root: str
    rows: list[TableRow]
    more: bool
    next_key: str


class BuiltCandidate(Open):
    """``build_candidate``: the unsigned candidate (``builder_signature`` null), the canonical
    header bytes and the digest the builder signs (ed25519 over these 32 bytes)."""

    block: dict[str, Any]
    header_canonical_hex: str
    signing_domain: str
    signing_digest: str
    block_id: str
    prev_id: str
    tx_seq: int | None
    rejected: int


class Schedule(Open):
    """``get_producer_schedule``."""

    active: dict[str, Any]
    pending: dict[str, Any] | None
    proposed: None
    repetitions: int


class Pushed(Open):
    """A transaction admitted to the mempool."""

    transaction_id: str
    processed: dict[str, Any]


class HeadAnswer(Open):
    """A block taken, and the node's head after it."""

    block_id: str
    status: str = Field(description="applied, reorg, stored or duplicate")
    head_block_num: int
    head_block_id: str


class ProducerLastBlock(Open):
    """The newest block the node holds from a producer, on any branch (``null`` fields when
    it holds none)."""

    producer: str
    slot: int | None
    block_num: int | None
    id: str | None
    canonical: bool | None


class Prepared(Open):
    """A candidate validated ahead of its signature."""

    block_id: str
    prepared: bool


class MempoolUpdates(Open):
    """Transactions numbered after ``after_seq``."""

    last_seq: int
    transactions: list[dict[str, Any]]
    seqs: list[int]


# --- executions --------------------------------------------------------------------------------


class Services(Open):
    """Every published service."""

    services: list[dict[str, Any]]


class ServiceView(Open):
    """A service with its runners' records."""

    id: str
    name: str
    developer: str
    price: int
    runners: list[Any]


class Runners(Open):
    """Runner registrations."""

    runners: list[dict[str, Any]]


class Executions(Open):
    """Executions, newest first."""

    executions: list[dict[str, Any]]


class ExecutionView(Open):
    """One execution: inputs, assignment, result, verdicts, settlement."""

    id: str
    status: str


class Processes(Open):
    """Processes."""

    processes: list[dict[str, Any]]


class ProcessView(Open):
    """One process: balance, rules, status."""

    id: str
    owner: str


class RunnersQuery(BaseModel):
    """Filters of the runner list."""

    service: str | None = Field(default=None, pattern=HASH_PATTERN)
    account: str | None = Field(default=None, pattern=ACCOUNT_NAME_PATTERN)
    limit: int = Field(default=100, ge=1, le=1000)


class ExecutionsQuery(BaseModel):
    """Filters of the execution list."""

    status: str | None = None
    service: str | None = None
    task: str | None = None
    runner: str | None = Field(default=None, pattern=ACCOUNT_NAME_PATTERN)
    verifier: str | None = Field(default=None, pattern=ACCOUNT_NAME_PATTERN)
    requester: str | None = Field(default=None, pattern=ACCOUNT_NAME_PATTERN)
    process: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class ProcessesQuery(BaseModel):
    """Filters of the process list."""

    owner: str | None = Field(default=None, pattern=ACCOUNT_NAME_PATTERN)
    limit: int = Field(default=100, ge=1, le=1000)
