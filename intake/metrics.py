"""Counters every process shares (Redis hash `intake:metrics`): refused requests by route and
reason, accepted inquiries by channel. Counting never fails a request: when Redis does not
answer the count is lost and the request goes on (the log line still records it).

`GET /api/v1/metrics` (admin, privacy officer) shows them.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

KEY = "intake:metrics"
log = logging.getLogger("intake.metrics")


def count(redis: Redis, name: str, amount: int = 1) -> None:
    try:
        redis.hincrby(KEY, name, amount)
    except RedisError:
        log.debug("intake.metrics.unavailable name=%s", name)


def refused(redis: Redis, route: str, reason: str) -> None:
    """A request refused before anything was stored (bad signature, secret, token or input)."""
    count(redis, f"refused.{route}.{reason}")


def snapshot(redis: Redis) -> dict[str, int]:
    try:
        raw = redis.hgetall(KEY)
    except RedisError:
        return {}
    return {k.decode(): int(v) for k, v in sorted(raw.items())}
