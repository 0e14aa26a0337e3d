"""The pool's protocol: what members, the emitter and the DAC sign, exchange and agree on.

Pure (no I/O, no clock): the chain core below it, every service above it.
"""
