"""A caller's signing key is at most 4,096 bits (issue 22, point 4): a larger one is a 400 naming
`/pem`, decided from the DER's modulus before the key reaches cryptography, so that no caller can
make a container spend seconds of CPU per token. Attacked through the HTTP handler, the direct
function and `make run`; a 4,096-bit key still signs."""

from __future__ import annotations

import base64
from functools import cache

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.standins import stack
from localdev.standins.apigw import LambdaContext
from localdev.standins.examples import VIDEO
from stream_tokens.domain import key_shape
from tests.support.keys import cloudflare_pem, pkcs1_block
from tests.support.log_hygiene import sensitive
from tests.support.make_run import free_port, read_banner, start_make_run, stop

KEY_ID = "a" * 32


@cache
def genuine_key(bits: int) -> str:
    """A real key of `bits` bits, as Cloudflare's `pem` (generated here; nothing is committed)."""
    return sensitive(cloudflare_pem(rsa.generate_private_key(public_exponent=65537, key_size=bits)))


def forged_key(modulus_bits: int) -> str:
    """A PKCS#1 RSAPrivateKey whose modulus has `modulus_bits` bits and every other field is small:
    the shape of a key, small enough for the schema's maxLength, enormous for RSA."""

    def integer(value: int) -> bytes:
        content = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return bytes([0x02]) + der_length(len(content)) + content

    modulus = (1 << (modulus_bits - 1)) | 1
    body = integer(0) + integer(modulus) + integer(65537) + b"".join(integer(3) for _ in range(6))
    der = bytes([0x30]) + der_length(len(body)) + body
    return base64.b64encode(pkcs1_block(base64.encodebytes(der).decode()).encode()).decode()


def der_length(length: int) -> bytes:
    return bytes([length]) if length < 0x80 else bytes([0x82]) + length.to_bytes(2, "big")


@pytest.fixture
def no_rsa_work(monkeypatch):
    """Fails the test if the key reaches cryptography's PEM parser."""

    def refuse(*args, **kwargs):
        raise AssertionError("the oversized key reached cryptography")

    monkeypatch.setattr(serialization, "load_pem_private_key", refuse)


def test_the_shape_check_reads_the_modulus_size_from_the_der():
    assert key_shape.is_base64_pem_rsa_key(forged_key(4096))
    assert not key_shape.is_base64_pem_rsa_key(forged_key(4097))
    assert not key_shape.is_base64_pem_rsa_key(forged_key(8192))
    assert key_shape.is_base64_pem_rsa_key(cloudflare_pem())  # Cloudflare's 2,048 bits


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(lambda: forged_key(8192), id="8192-bit modulus"),
        pytest.param(lambda: forged_key(16384), id="16384-bit modulus"),
        pytest.param(lambda: genuine_key(4608), id="genuine 4608-bit key"),
    ],
)
def test_a_key_over_4096_bits_is_a_400_naming_pem_before_any_rsa_work(app, double, no_rsa_work, pem):
    value = pem()
    assert len(value) <= 8192  # within the schema's maxLength: only the size check stands in the way
    answer = app.mint({"id": KEY_ID, "pem": value})
    assert answer.status == 400, answer.body
    assert answer.error_pointers == ["/pem"]
    assert "at most 4,096 bits" in answer.body["errors"][0]["message"]
    assert double.requests == []


def test_the_direct_function_refuses_it_too(function_env, double, no_rsa_work):
    direct = stack.load_function("mint_direct")
    with pytest.raises(Exception, match="4,096 bits") as refused:
        direct.lambda_handler({"identifier": VIDEO, "id": KEY_ID, "pem": forged_key(8192)}, LambdaContext())
    assert "/pem" in str(refused.value)
    assert double.requests == []


def test_a_4096_bit_key_still_signs(app, double, open_policy):  # where a policy allows callers' keys
    answer = app.mint({"id": KEY_ID, "pem": genuine_key(4096)})
    assert answer.status == 200, answer.body
    sensitive(answer.body["result"]["token"])
    assert double.requests == []


def test_make_run_refuses_an_oversized_key_with_a_400_naming_pem(open_policy_file):
    port = free_port()
    process = start_make_run(port, {"POLICY": open_policy_file})  # even where callers' keys are allowed
    printed: list[str] = []
    try:
        printed = read_banner(process)
        url = f"http://127.0.0.1:{port}/videos/{VIDEO}/token"
        refused = requests.post(url, json={"id": KEY_ID, "pem": forged_key(16384)}, timeout=10)
        assert refused.status_code == 400, refused.text
        assert [e["source"]["pointer"] for e in refused.json()["errors"]] == ["/pem"]
        signed = requests.post(url, json={"id": KEY_ID, "pem": genuine_key(4096)}, timeout=10)
        assert signed.status_code == 200, signed.text
        sensitive(signed.json()["result"]["token"])
    finally:
        stop(process, printed)
