"""The runner daemon: runs paid executions of services it staked on, and verifies others'.

Services are Python packages registered under the ``bppool.runner_services`` entry point
group (see :mod:`chain.runner.registry`); three samples ship with bppool
(:mod:`chain.runner.samples`).
"""

from chain.runner.registry import ServicePackage, TaskContext, TaskError, load_services

__all__ = ["ServicePackage", "TaskContext", "TaskError", "load_services"]
