"""Entitlements the policy's "table" and "function" rules look up (docs/policy.md, "Entitlements").

- `EntitlementsTable`: DynamoDB items {subject, video, expires_at?}, where subject is the caller's id
  (a token's sub, an IAM ARN) or `group:<name>` for a group of theirs; an item whose expires_at
  (epoch seconds) has passed entitles nobody (DynamoDB's TTL deletes it later). One BatchGetItem per
  100 keys (the caller and their groups, times the videos asked for).
- `EntitlementFunction`: the operator's Lambda, invoked with the caller and the videos, answering
  {"entitled": [ids], "cacheSeconds": n}.

Both answers are cached per caller and video for a short time. A source that cannot answer fails
closed: EntitlementsUnavailable (503), never a token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..domain.callers import Caller
from ..domain.errors import EntitlementsUnavailable

MAX_KEYS_PER_READ = 100  # BatchGetItem's limit
MAX_GROUPS = 20  # groups of a caller looked up (a token could list thousands)
MAX_CACHE_SECONDS = 300


class AnswerCache:
    """(caller, video) -> entitled, each for its own number of seconds; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answers: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def known(self, caller: Caller, videos: Iterable[str]) -> dict[str, bool]:
        now = self._clock()
        with self._lock:
            found = {video: self._answers.get((caller.id, video)) for video in videos}
        return {video: answer[1] for video, answer in found.items() if answer is not None and answer[0] > now}

    def keep(self, caller: Caller, answers: dict[str, bool], seconds: float) -> None:
        until = self._clock() + min(seconds, MAX_CACHE_SECONDS)
        with self._lock:
            if len(self._answers) > 100_000:  # a container's memory is not a database
                self._answers.clear()
            self._answers.update({(caller.id, video): (until, entitled) for video, entitled in answers.items()})


class _CachedSource:
    """An entitlement source whose answers are kept a while, per caller and video."""

    def __init__(self) -> None:
        self.cache = AnswerCache()

    def entitled(self, caller: Caller, videos: Sequence[str], deadline: float) -> set[str]:
        known = self.cache.known(caller, videos)
        missing = [video for video in videos if video not in known]
        if missing:
            found, seconds = self._look_up(caller, missing)
            answers = {video: video in found for video in missing}
            self.cache.keep(caller, answers, seconds)
            known |= answers
        return {video for video, entitled in known.items() if entitled}

    def _look_up(self, caller: Caller, videos: list[str]) -> tuple[set[str], float]:
        """The videos of `videos` the caller is entitled to, and for how long that answer holds."""
        raise NotImplementedError


class EntitlementsTable(_CachedSource):
    def __init__(
        self, table: str, cache_seconds: float = 30, client: Any = None, clock: Callable[[], float] = time.time
    ):
        super().__init__()
        self.table = table
        self.cache_seconds = cache_seconds
        self._client = client
        self._clock = clock

    def _look_up(self, caller: Caller, videos: list[str]) -> tuple[set[str], float]:
        return self._read(_subjects(caller), videos), self.cache_seconds

    def _read(self, subjects: list[str], videos: list[str]) -> set[str]:
        keys = [{"subject": {"S": s}, "video": {"S": v}} for s in subjects for v in videos]
        now, found = self._clock(), set()
        for start in range(0, len(keys), MAX_KEYS_PER_READ):
            for item in self._batch_get(keys[start : start + MAX_KEYS_PER_READ]):
                expires = item.get("expires_at", {}).get("N")
                if expires is None or float(expires) > now:
                    found.add(item["video"]["S"])
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every item of `keys` that exists (unprocessed keys asked again, a bounded number of times)."""
        client, items = self._dynamodb(), []
        request = {self.table: {"Keys": keys, "ProjectionExpression": "video, expires_at"}}
        for _ in range(3):
            try:
                answer = client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise EntitlementsUnavailable(f"the entitlements table failed: {type(exc).__name__}") from None
            items += answer.get("Responses", {}).get(self.table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise EntitlementsUnavailable("the entitlements table left keys unprocessed (throttled)")

    def _dynamodb(self) -> Any:
        if self._client is None:
            import botocore.session  # noqa: PLC0415 - only deployments with an entitlements table

            self._client = botocore.session.get_session().create_client("dynamodb")
        return self._client


def _subjects(caller: Caller) -> list[str]:
    """The table's subjects for `caller`: their id, and `group:<name>` for each group (sorted, at most MAX_GROUPS)."""
    return [caller.id] + [f"group:{group}" for group in sorted(caller.groups)[:MAX_GROUPS]]


class EntitlementFunction(_CachedSource):
    def __init__(self, function: str, client: Any = None) -> None:
        super().__init__()
        self.function = function
        self._client = client

    def _look_up(self, caller: Caller, videos: list[str]) -> tuple[set[str], float]:
        event = {"caller": _caller_event(caller), "videos": videos}
        try:
            answer = self._lambda().invoke(FunctionName=self.function, Payload=json.dumps(event).encode())
            failed, payload = answer.get("FunctionError"), json.loads(answer["Payload"].read())
        except (ClientError, BotoCoreError, ValueError, KeyError) as exc:
            raise EntitlementsUnavailable(f"the entitlement function failed: {type(exc).__name__}") from None
        entitled = payload.get("entitled") if isinstance(payload, dict) else None
        if failed or not isinstance(entitled, list):
            raise EntitlementsUnavailable("the entitlement function failed or answered without a list 'entitled'")
        seconds = payload.get("cacheSeconds", 60)
        return {str(video).lower() for video in entitled}, float(seconds) if isinstance(seconds, int | float) else 60.0

    def _lambda(self) -> Any:
        if self._client is None:
            import botocore.session  # noqa: PLC0415 - only deployments with an entitlement function

            self._client = botocore.session.get_session().create_client("lambda")
        return self._client


def _caller_event(caller: Caller) -> dict[str, Any]:
    """The caller as the entitlement function receives it."""
    return {
        "id": caller.id,
        "via": caller.via,
        "account": caller.account,
        "scopes": sorted(caller.scopes),
        "groups": sorted(caller.groups),
        "claims": dict(caller.claims),
    }
