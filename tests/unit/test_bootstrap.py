"""The composition root builds each per-container object exactly once, whatever the concurrency."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from stream_tokens.adapters import cloudflare_api, secrets_manager
from stream_tokens.adapters.issuers import CloudflareApiIssuer, LocalIssuer
from stream_tokens.runtime import bootstrap
from stream_tokens.services import minting

THREADS = 16


@pytest.fixture
def cold_container(monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:cf")
    monkeypatch.setenv("STREAM_CUSTOMER_CODE", "abc")
    bootstrap.reset()
    yield
    bootstrap.reset()


def counted(monkeypatch, module, name: str, built: Counter[str]) -> None:
    """Count constructions of `module.name`, made slow so that racing threads overlap."""
    original = getattr(module, name)

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            built[name] += 1
            threading.Event().wait(0.01)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(module, name, Counting)


def burst(build) -> list[object]:
    """`build()` from THREADS threads released together; what each got."""
    barrier = threading.Barrier(THREADS)
    got: list[object] = [None] * THREADS

    def run(i: int) -> None:
        barrier.wait()
        got[i] = build()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return got


def test_a_burst_on_a_cold_container_builds_each_object_once(cold_container, monkeypatch):
    built: Counter[str] = Counter()
    counted(monkeypatch, minting, "TokenService", built)
    counted(monkeypatch, secrets_manager, "SecretsManagerCredentials", built)
    counted(monkeypatch, cloudflare_api, "CloudflareStreamApi", built)
    monkeypatch.setattr(bootstrap, "TokenService", minting.TokenService)
    monkeypatch.setattr(bootstrap, "SecretsManagerCredentials", secrets_manager.SecretsManagerCredentials)

    services = burst(bootstrap.token_service)
    api_issuer = bootstrap.token_service().api
    assert isinstance(api_issuer, CloudflareApiIssuer)
    clients = burst(api_issuer.client)  # the HTTP client, built on first use

    assert len({id(s) for s in services}) == 1
    assert len({id(c) for c in clients}) == 1
    assert isinstance(bootstrap.token_service().local, LocalIssuer)
    assert built == Counter(TokenService=1, SecretsManagerCredentials=1, CloudflareStreamApi=1)
    assert isinstance(clients[0], cloudflare_api.CloudflareStreamApi)
    assert clients[0].calls is not None  # one rate budget, inside the one client


def test_reset_forgets_the_container(cold_container):
    first = bootstrap.token_service()
    bootstrap.reset()
    assert bootstrap.token_service() is not first
