"""The worker process: an RQ worker on the main thread and the relay thread beside it.

`run_worker(hub)` is what `intake worker` runs:
- the main thread runs `IntakeWorker` (RQ's SimpleWorker) on the queues, `with_scheduler=True`
  so that RQ's retry intervals (scheduled jobs) are honoured;
- a background thread relays due outbox rows every `RELAY_INTERVAL_MS` and ticks the periodic
  jobs, backing off while Redis is down;
- RQ's `work()` returns (or raises) on some Redis errors; the loop here then waits for Redis to
  answer and starts a fresh worker object, so a worker outlives Redis going away and coming back
  empty without a restart;
- SIGTERM/SIGINT stop both cleanly (a job in progress finishes first).

`run_worker(hub, burst=True)` drains: relay until nothing is due, work the queues in burst mode,
and repeat until both are empty.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import StopRequested

from intake.hub import Hub
from workers import periodic
from workers.context import set_hub
from workers.logs import install_worker_logging
from workers.queues import IntakeWorker, make_worker, worker_connection
from workers.relay import relay_once

log = logging.getLogger(__name__)

RELAY_BATCH = 500
# Redis down: the relay retries at most this far apart (delivery is due within 10 s of Redis
# answering again); other errors (the database) back off further.
MAX_REDIS_BACKOFF = 2.0
MAX_ERROR_BACKOFF = 10.0
BURST_MAX_ROUNDS = 100


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except RedisError:
        return False
    finally:
        client.close()


def relay_loop(hub: Hub, stop: threading.Event, interval: float | None = None) -> None:
    """Relay due outbox rows and tick the periodic jobs until `stop` is set; never dies."""
    interval = interval if interval is not None else hub.settings.relay_interval_ms / 1000
    delay = interval
    redis_down = False
    while not stop.is_set():
        try:
            periodic.tick(hub)
            moved = relay_once(hub, RELAY_BATCH)
        except RedisError as exc:
            if not redis_down:
                log.warning("workers.relay.redis_unavailable error=%s", type(exc).__name__)
            redis_down = True
            delay = min(max(delay * 2, interval), MAX_REDIS_BACKOFF)
            stop.wait(delay)
            continue
        except Exception:
            log.exception("workers.relay.error")
            delay = min(max(delay * 2, interval), MAX_ERROR_BACKOFF)
            stop.wait(delay)
            continue
        if redis_down:
            log.info("workers.relay.redis_back")
            redis_down = False
        delay = interval
        if moved < RELAY_BATCH:  # a full batch means more is due now
            stop.wait(interval)


def _wait_for_redis(url: str, stop: threading.Event) -> bool:
    delay = 0.25
    warned = False
    while not stop.is_set():
        if redis_answers(url):
            if warned:
                log.info("workers.worker.redis_back")
            return True
        if not warned:
            log.warning("workers.worker.waiting_for_redis")
            warned = True
        stop.wait(delay)
        delay = min(delay * 2, MAX_REDIS_BACKOFF)
    return False


class _Current:
    """The worker object the signal handler must reach (the runner replaces it on reconnect)."""

    worker: IntakeWorker | None = None


def _drain(hub: Hub) -> None:
    periodic.tick(hub)
    for _round in range(BURST_MAX_ROUNDS):
        moved = 0
        while (count := relay_once(hub, RELAY_BATCH)) > 0:
            moved += count
        connection = worker_connection(hub.redis_url)
        try:
            worked = make_worker(hub, connection).work(burst=True, with_scheduler=True)
        finally:
            connection.close()
        if not moved and not worked:
            return
    log.warning("workers.worker.burst_incomplete rounds=%d", BURST_MAX_ROUNDS)


def run_worker(hub: Hub, burst: bool = False) -> None:
    """Run the worker process on `hub` (see the module docstring); blocks until stopped."""
    set_hub(hub)
    install_worker_logging()
    if burst:
        _drain(hub)
        return

    stop = threading.Event()
    current = _Current()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("workers.worker.stopping signal=%s", signal.Signals(signum).name)
        stop.set()
        worker = current.worker
        if worker is not None:
            # Idle: raises StopRequested out of its loop; busy: stops after the job.
            try:
                worker.request_stop(signum, frame)
            except RedisError:
                # RQ sets its stop flag before noting the date in Redis; a Redis error must not
                # surface inside the running job (it would look like a failed provider call).
                pass

    previous: dict[int, Any] = {sig: signal.signal(sig, on_signal)
                                for sig in (signal.SIGTERM, signal.SIGINT)}
    relay = threading.Thread(target=relay_loop, args=(hub, stop), name="intake-relay",
                             daemon=True)
    relay.start()
    log.info("workers.worker.started")
    try:
        while not stop.is_set():
            if not _wait_for_redis(hub.redis_url, stop):
                break
            connection = worker_connection(hub.redis_url)
            worker = make_worker(hub, connection)
            current.worker = worker
            try:
                worker.work(with_scheduler=True)
            except StopRequested:
                pass
            except RedisError as exc:
                log.warning("workers.worker.redis_lost error=%s", type(exc).__name__)
            finally:
                current.worker = None
                connection.close()
            if not stop.is_set():
                log.warning("workers.worker.restarting")
                stop.wait(0.5)
    finally:
        stop.set()
        relay.join(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("workers.worker.stopped")
