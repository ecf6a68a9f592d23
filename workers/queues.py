"""Queues and the worker class: the only module that picks RQ classes for the rest of `workers/`.

Owns the queue names, the explicit job timeouts and TTLs, the Redis connection a worker blocks
on, and `IntakeWorker`, the RQ worker every `intake worker` process runs.

Why `SimpleWorker` (jobs run in the worker's own process) and not the forking `Worker`: measured
on these machines, the forking worker ran about 9 no-op jobs a second and `SimpleWorker` about
250. Our jobs are short and I/O bound (one SMTP or HTTP call, a few small transactions), so the
fork per job would dominate; and the outbox relay thread has to live in the same process as the
worker, which a fork per job would duplicate. Isolation comes from running several worker
processes instead.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker

from intake.hub import Hub
from intake.redaction import install_log_masking

DELIVERIES = "deliveries"
DEFAULT = "default"
# Listening order: deliveries first, so a burst of housekeeping never delays a patient's reply.
QUEUE_NAMES: tuple[str, ...] = (DELIVERIES, DEFAULT)

# Explicit limits (Redash's lesson): a delivery is one provider call bounded by its own timeout
# (SMTP_TIMEOUT per step), so two minutes means something is stuck, not slow.
JOB_TIMEOUT = 120
PERIODIC_JOB_TIMEOUT = 600
RESULT_TTL = 3600
# Failed jobs stay inspectable in RQ's FailedJobRegistry for a month.
FAILURE_TTL = 30 * 24 * 3600
# Retried deliveries and scheduled jobs live in RQ's scheduler; a short maintenance interval
# restarts a scheduler process that a Redis outage killed within a minute instead of ten.
MAINTENANCE_INTERVAL = 60

log = logging.getLogger(__name__)


def get_queue(hub: Hub, name: str = DELIVERIES) -> Queue:
    """The RQ queue `name` on the hub's Redis (the client that never blocks for long)."""
    return Queue(name, connection=hub.redis)


def worker_connection(url: str) -> Redis:
    """A Redis client of the worker's own: RQ raises the socket timeout of the client it is given
    above its blocking-pop timeout (minutes), which must not leak into the hub's client that the
    relay and the web app use."""
    return Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)


class IntakeWorker(SimpleWorker):
    """RQ's `SimpleWorker` with the hub's process rules.

    - The runner owns SIGTERM/SIGINT (it also stops the relay thread), so the worker installs no
      handlers of its own; tests running it in-process keep pytest's handlers too.
    - RQ's loggers get the masking filter, since RQ logs job arguments and exception texts.
    - A Redis outage while idle is retried every few seconds at most (RQ's default backs off to a
      minute; the contract is delivery within 10 s of Redis answering again).
    - Teardown never raises because Redis is gone: the runner starts a fresh worker afterwards.
    """

    max_connection_wait_time = 2.0

    def _install_signal_handlers(self) -> None:
        return None

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        for name in ("rq.worker", "rq.job", "rq.queue", "rq.scheduler"):
            install_log_masking(logging.getLogger(name))

    def teardown(self) -> None:
        try:
            super().teardown()
        except RedisError as exc:
            log.warning("workers.worker.teardown_without_redis error=%s", type(exc).__name__)
            pubsub_thread = getattr(self, "pubsub_thread", None)
            if pubsub_thread is not None:
                with suppress(Exception):
                    pubsub_thread.stop()


def make_worker(hub: Hub, connection: Redis | None = None,
                queues: tuple[str, ...] = QUEUE_NAMES) -> IntakeWorker:
    """A worker on `queues`; pass a `worker_connection` (close it when the worker is done)."""
    connection = connection or worker_connection(hub.redis_url)
    return IntakeWorker(list(queues), connection=connection, default_result_ttl=RESULT_TTL,
                        maintenance_interval=MAINTENANCE_INTERVAL)
