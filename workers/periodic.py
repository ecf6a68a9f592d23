"""Periodic jobs, declared as data, and the tick that schedules them from the relay loop.

Each job has a stable id. Whoever first sets `intake:periodic:<id>` (SET NX PX <interval>)
enqueues it for that interval, so several workers never duplicate a run; a Redis that comes
back empty has forgotten the keys and simply runs every job again, which they all tolerate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress

from redis.exceptions import RedisError

from intake.hub import Hub
from workers import jobs, registry, retention
from workers.queues import (
    FAILURE_TTL,
    RESULT_TTL,
    get_queue,
)
from workers.specs import PeriodicJob

log = logging.getLogger(__name__)



PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    # R12/R19: hourly keeps destruction well inside the "within 5 days" working rule.
    PeriodicJob("purge-pending-guardian", 3600, retention.purge_pending_guardian),
    PeriodicJob("purge-relayed-outbox", 3600, retention.purge_relayed_outbox),
    # Deliveries whose RQ job vanished with Redis's memory are found within a few minutes.
    PeriodicJob("redrive-stranded-deliveries", 60, jobs.redrive_stranded),
    *registry.CHANNEL_PERIODIC,
)


def tick(hub: Hub, periodic: Sequence[PeriodicJob] = PERIODIC_JOBS) -> list[str]:
    """Enqueue the periodic jobs whose interval has passed; answer their ids.

    Raises RedisError when Redis is down (the relay loop backs off on it)."""
    with hub.redis.pipeline(transaction=False) as pipe:
        for job in periodic:
            pipe.set(job.key, 1, nx=True, px=job.interval * 1000)
        won = pipe.execute()
    enqueued: list[str] = []
    for job, mine in zip(periodic, won, strict=True):
        if not mine:
            continue
        try:
            # The stable job id means an earlier run still waiting is replaced, not doubled.
            get_queue(hub, job.queue).enqueue_call(
                job.func, job_id=job.job_id, timeout=job.timeout, result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL)
        except RedisError:
            with suppress(RedisError):
                hub.redis.delete(job.key)  # let the next tick try again
            raise
        enqueued.append(job.id)
        log.info("workers.periodic.enqueued id=%s", job.id)
    return enqueued
