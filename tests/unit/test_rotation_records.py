"""The retirement records the rotation keeps in the secret (`retired_signing_keys`)."""

from __future__ import annotations

import pytest

from stream_tokens.domain.errors import ConfigurationError
from stream_tokens.domain.rotation_records import RetiredKey, one_per_key, retired_keys

A, B = "a" * 32, "b" * 32


def test_records_read_back_what_they_write():
    records = [RetiredKey(A, 1795435200), RetiredKey(B, None)]
    secret = {"retired_signing_keys": [r.to_json() for r in records]}
    assert secret["retired_signing_keys"] == [
        {"id": A, "retired_at": "2026-11-23T12:00:00Z"},
        {"id": B, "retired_at": None},
    ]
    assert retired_keys(secret) == records
    assert retired_keys({}) == []


@pytest.mark.parametrize(
    "records",
    ["not a list", [{"retired_at": None}], [{"id": "../../zones", "retired_at": None}], [{"id": A, "retired_at": "x"}]],
)
def test_malformed_records_stop_the_rotation_before_any_deletion(records):
    with pytest.raises(ConfigurationError):
        retired_keys({"retired_signing_keys": records})


def test_one_record_per_key_and_the_later_retirement_wins():
    assert one_per_key([RetiredKey(A, 5), RetiredKey(A, 9), RetiredKey(B, 3)]) == [RetiredKey(A, 9), RetiredKey(B, 3)]
    assert one_per_key([RetiredKey(A, 9), RetiredKey(A, None), RetiredKey(A, 20)]) == [RetiredKey(A, None)]
