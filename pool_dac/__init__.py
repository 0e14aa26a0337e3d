"""The pool's DAC: constitution, governance by signed votes, arbitration, rewards and payouts."""
