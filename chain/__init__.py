"""The bundled minimal DPoS chain: a pure core (:mod:`chain.core`), the node service
(:mod:`chain.node`) and the execution runner daemon (:mod:`chain.runner`)."""
