"""The node's HTTP API: EOSIO-style ``/v1/chain/*``, ``/v1/node/*``, metrics and health.

Read endpoints accept a JSON body (POST, as EOSIO clients send) or query parameters (GET).
Every error is ``{"error": {"code", "message"}}`` with a 4xx status naming the failed check.
The routes live by area: :mod:`chain.node.routes_chain` (chain reads),
:mod:`chain.node.routes_push` (the hot writes), :mod:`chain.node.routes_node` (peer sync,
mempool mirror, head stream), :mod:`chain.node.executions_api` and
:mod:`chain.node.routes_ops`; this module puts them together around a node.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from chain.node import routes_chain, routes_node, routes_ops, routes_producer, routes_push
from chain.node.executions_api import router as executions_router
from chain.node.node import SERVER_VERSION, Node
from service_shell.web import mount_routes, service_app

# In this order in the OpenAPI: chain reads, the hot writes, node reads, executions, operations.
ROUTERS = (
    routes_chain.router,
    routes_push.router,
    routes_node.router,
    routes_producer.router,
    executions_router,
    routes_ops.router,
)


def create_app(node: Node, *, repair: bool = False) -> FastAPI:
    """The ASGI app around ``node``; its lifespan starts and stops the node."""
    app = service_app(
        title="bppool chain node",
        version=SERVER_VERSION,
        description="EOSIO-style API of the bundled bppool chain.",
        start=partial(node.start, repair=repair),
        stop=node.stop,
    )
    app.state.node = node
    # The hot write endpoints: served by the HTTP protocol under ``run_app``, by a middleware
    # under any other ASGI server (service_shell.hotroutes).
    mount_routes(
        app, ROUTERS, body_limit=node.settings.max_transaction_bytes, hot_routes=routes_push.hot_routes(node)
    )
    return app
