"""The outbox relay: due outbox rows → RQ jobs, in batches, safely from several workers at once.

`relay_once` takes up to `batch` due rows in one transaction (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so concurrent relays split the rows instead of queueing behind each other), puts
them into RQ in one Redis transaction (MULTI/EXEC pipeline), and only then marks them relayed.
If Redis fails, the database transaction rolls back and the rows stay pending for the next try;
if the commit fails after Redis took the jobs, the rows are relayed again under the same job ids
(`outbox-<row id>`), which overwrites the jobs instead of adding different ones, and the jobs
are safe to re-run anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from rq.queue import EnqueueData
from sqlalchemy import select

from intake.db import utcnow
from intake.hub import Hub
from intake.models import OutboxRow
from intake.services.deliveries import DELIVER_JOB
from workers import jobs, registry
from workers.queues import DELIVERIES, FAILURE_TTL, RESULT_TTL
from workers.specs import JobSpec

log = logging.getLogger(__name__)

# 5 s, 15 s, 1 min, 5 min, 15 min: a provider blip is retried at once, an outage for ~20 min.
DELIVERY_RETRY = Retry(max=5, interval=[5, 15, 60, 300, 900])


# The outbox's job names, the only ones this worker relays (a row written by a newer web app
# with a name unknown here stays pending for a worker that knows it).
JOBS: Mapping[str, JobSpec] = {
    DELIVER_JOB: JobSpec(jobs.deliver, DELIVERIES, retry=DELIVERY_RETRY,
                         on_failure=jobs.on_deliver_failure),
    **registry.CHANNEL_JOBS,
}


def _job_data(row: OutboxRow, spec: JobSpec) -> EnqueueData:
    return Queue.prepare_data(
        spec.func, kwargs=row.job_kwargs(), job_id=jobs.outbox_job_id(row.id),
        timeout=spec.timeout, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
        retry=spec.retry,
        on_failure=Callback(spec.on_failure) if spec.on_failure is not None else None,
    )


def relay_once(hub: Hub, batch: int = 500, *, jobs_map: Mapping[str, JobSpec] = JOBS) -> int:
    """Relay up to `batch` due outbox rows; answer how many went to RQ (0 if Redis is down)."""
    now = utcnow()
    query = (select(OutboxRow)
             .where(OutboxRow.relayed_at.is_(None), OutboxRow.available_at <= now,
                    OutboxRow.job.in_(list(jobs_map)))
             .order_by(OutboxRow.id).limit(batch))
    if hub.db.is_postgres:
        query = query.with_for_update(skip_locked=True)
    try:
        with hub.db.begin() as session:
            rows = list(session.scalars(query))
            if not rows:
                return 0
            by_queue: dict[str, list[EnqueueData]] = {}
            for row in rows:
                spec = jobs_map[row.job]
                by_queue.setdefault(spec.queue, []).append(_job_data(row, spec))
            with hub.redis.pipeline() as pipe:
                for name, datas in by_queue.items():
                    Queue(name, connection=hub.redis).enqueue_many(datas, pipeline=pipe)
                pipe.execute()
            for row in rows:
                row.relayed_at = now
    except RedisError as exc:
        log.warning("workers.relay.redis_unavailable error=%s", type(exc).__name__)
        return 0
    log.debug("workers.relay.relayed count=%d", len(rows))
    return len(rows)
