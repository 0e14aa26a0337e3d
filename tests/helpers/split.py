"""Reward-split factories: one epoch's split with only the parameters an example names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pool_dac.core.split import MemberMetrics, Split, compute_split


def split_of(
    members: Iterable[MemberMetrics],
    *,
    earnings: int,
    policy: str = "even",
    treasury_fee_bps: int = 0,
    min_participation_bps: int = 0,
    hybrid_base_bps: int = 0,
    pool_slots: int = 10,
    penalties: Mapping[str, int] | None = None,
) -> Split:
    """The split of ``earnings`` among ``members``; fee, thresholds and hybrid base default to zero."""
    return compute_split(
        earnings=earnings,
        treasury_fee_bps=treasury_fee_bps,
        policy=policy,
        min_participation_bps=min_participation_bps,
        hybrid_base_bps=hybrid_base_bps,
        pool_slots=pool_slots,
        members=members,
        penalties=penalties,
    )
