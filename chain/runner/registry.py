"""Service packages: a definition plus the Python callables that run (and check) its tasks.

A third party ships a service as a package that exposes a :class:`ServicePackage` under the
entry point group ``bppool.runner_services``::

    [project.entry-points."bppool.runner_services"]
    weather = "weather_service:SERVICE"

A task is ``run(inputs, ctx) -> outputs`` (plain dicts of the task's typed fields). It raises
:class:`TaskError` with a deterministic message when the inputs cannot be processed; the
runner submits that message as the execution's error (verifiers re-executing get the same
one). An ``external`` task also has ``check(execution, ctx) -> bool``, which a verifier calls
to decide whether the effect the runner reports is really there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from chain.client.http import NodeClient
from chain.core.containers import Action
from chain.core.servicetypes import compute_service_id, parse_definition

ENTRY_POINT_GROUP = "bppool.runner_services"


class TaskError(Exception):
    """A task cannot process its inputs; the message becomes the execution's error."""


@dataclass
class TaskContext:
    """What a task or a check may use besides its inputs."""

    account: str
    chain_id: str
    execution: dict[str, Any]
    node: NodeClient
    send: Callable[[Action], str]
    """Sign and push a transaction from the runner's account; returns its id."""
    wait_for: Callable[[str, float], int]
    """``wait_for(tx_id, timeout_s)``: the height of the block that included the transaction."""


Task = Callable[[dict[str, Any], TaskContext], dict[str, Any]]
Check = Callable[[dict[str, Any], TaskContext], bool]


@dataclass(frozen=True)
class ServicePackage:
    """A service definition and the code behind its tasks."""

    definition: dict[str, Any]
    tasks: Mapping[str, Task]
    checks: Mapping[str, Check] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = parse_definition(self.definition)
        object.__setattr__(self, "_spec", spec)  # frozen: parsed once, read by verification()
        missing = set(spec.tasks) - set(self.tasks)
        if missing:
            raise ValueError(f"service {spec.name}: no code for task(s) {', '.join(sorted(missing))}")
        for name, task in spec.tasks.items():
            if task.verification == "external" and name not in self.checks:
                raise ValueError(f"service {spec.name}: external task {name} needs a check")

    @property
    def name(self) -> str:
        return str(self.definition["name"])

    @property
    def service_id(self) -> str:
        return compute_service_id(self.definition)

    def verification(self, task: str) -> str:
        return str(self._spec.tasks[task].verification)  # type: ignore[attr-defined]


def installed_services() -> dict[str, ServicePackage]:
    """Every service package installed in this environment, by entry point name."""
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package = ep.load()
        if not isinstance(package, ServicePackage):
            raise TypeError(f"entry point {ep.name} ({ep.value}) is not a ServicePackage")
        found[ep.name] = package
    return found


def load_services(names: list[str]) -> dict[str, ServicePackage]:
    """The packages called ``names``, or ``LookupError`` naming what is installed."""
    installed = installed_services()
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise LookupError(
            f"no service package {', '.join(unknown)} installed; "
            f"installed: {', '.join(sorted(installed)) or 'none'}"
        )
    return {n: installed[n] for n in names}
