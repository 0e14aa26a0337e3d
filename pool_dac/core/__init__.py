"""The DAC's pure core: parameters, the reward split, governance states, signed messages,
statements. No I/O, no clock, no randomness: time and keys are arguments."""
