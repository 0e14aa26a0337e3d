"""The chain as a service sees it.

The node's HTTP client (:mod:`.http`), a replica that follows the node (:mod:`.follower`),
block decoding (:mod:`.decoding`) and the genesis file (:mod:`.genesis_file`).
"""
