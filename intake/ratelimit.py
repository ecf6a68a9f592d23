"""A fixed-window rate limit per client address on the public intake routes, kept in Redis so
every web process shares it. When Redis does not answer the request is let through: accepting
an inquiry matters more than limiting it, and the outbox keeps it until Redis is back."""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("intake.ratelimit")


def hit(redis: Redis, scope: str, client: str, limit: int, window: int) -> tuple[bool, int]:
    """Count one request; answer (allowed, seconds until the window resets)."""
    bucket = int(time.time() // window)
    key = f"intake:rl:{scope}:{client}:{bucket}"
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count = int(pipe.execute()[0])
    except RedisError:
        log.warning("intake.ratelimit.redis_unavailable scope=%s", scope)
        return True, 0
    retry_after = window - int(time.time()) % window
    return count <= limit, retry_after
