"""Parameters, signed messages and statement proofs."""

from __future__ import annotations

import pytest

from pool_dac.core.params import InvalidParameter, Parameters, check_parameter
from pool_dac.core.split import MemberMetrics
from pool_dac.core.statement import (
    compute_row_proof,
    compute_rows,
    compute_statement_root,
    sign_statement,
    verify_row,
    verify_statement,
)
from pool_protocol.messages import Ballot, ConstitutionSignature, Ruling
from tests.helpers.chain import key_for
from tests.helpers.split import split_of


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("treasury_fee_bps", 5001, r"\[0, 5000\]"),
        ("treasury_fee_bps", "²", r"\[0, 5000\]"),  # a digit to str.isdigit, not to int
        ("treasury_fee_bps", "1" * 5000, r"\[0, 5000\]"),
        ("treasury_fee_bps", "250\n", r"\[0, 5000\]"),
        ("reward_policy", "prop", "one of even"),
        ("strategy", "fastest", "one of first_delivered"),
        ("voting_period_s", 1, r"\[5,"),
        ("arbitrator", "Not Valid", "account name"),
        ("nope", 1, "unknown parameter"),
    ],
)
def test_parameter_bounds(name, value, message) -> None:
    with pytest.raises(InvalidParameter, match=message):
        check_parameter(name, value)


def test_parameters_round_trip_and_string_integers() -> None:
    params = Parameters().with_value("treasury_fee_bps", "250").with_value("strategy", "best_fees")
    assert params.treasury_fee_bps == 250 and Parameters.from_dict(params.to_dict()) == params


def test_signed_messages_verify_and_do_not_cross() -> None:
    key = key_for("ann")
    ballot = Ballot("ab" * 32, "pool", 3, "ann", "no", 1_000).signed(key)
    assert ballot.verify(key.public_key) and Ballot.from_dict(ballot.to_dict()) == ballot
    assert not Ballot("ab" * 32, "pool", 3, "ann", "yes", 1_000, ballot.signature).verify(key.public_key)
    sig = ConstitutionSignature("ab" * 32, "pool", "ann", 1, "cd" * 32, 5).signed(key)
    assert sig.verify(key.public_key)
    # a ballot signature is not a constitution signature
    assert not ConstitutionSignature("ab" * 32, "pool", "ann", 1, "cd" * 32, 5, ballot.signature).verify(
        key.public_key
    )
    ruling = Ruling("ab" * 32, "pool", 1, "ann", "penalty", 2500, 3, "late twice", 9).signed(key)
    assert Ruling.from_dict(ruling.to_dict()).verify(key.public_key)


def test_statement_rows_proofs_and_signature() -> None:
    members = [MemberMetrics(m, 5, 5, 1) for m in ("ann", "bob", "cid", "dan", "eve")]
    split = split_of(members, earnings=1000, treasury_fee_bps=100)
    rows = compute_rows(4, split)
    root = compute_statement_root(rows)
    for row in rows:
        index, proof = compute_row_proof(rows, row["member"])
        assert verify_row(row, index, len(rows), proof, root)
        assert not verify_row({**row, "amount": row["amount"] + 1}, index, len(rows), proof, root)
    header = {"epoch": 4, "root": root}
    signature = sign_statement(key_for("pool"), header)
    assert verify_statement(key_for("pool").public_key, header, signature)
    assert not verify_statement(key_for("pool").public_key, {"epoch": 5, "root": root}, signature)
