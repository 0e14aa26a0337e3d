"""The DAC's signed messages (defined with the rest of the wire protocol in the chain core)."""

from chain.core.messages import CHOICES, DECISIONS, MAX_FUTURE_MS, Ballot, ConstitutionSignature, Ruling

__all__ = ["CHOICES", "DECISIONS", "MAX_FUTURE_MS", "Ballot", "ConstitutionSignature", "Ruling"]
