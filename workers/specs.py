"""The shapes of the work a worker knows: outbox job specs and periodic jobs, as data.

Channel job modules (`workers/<channel>_jobs.py`) declare theirs with these and are collected
in `workers/registry.py`, so adding a channel's jobs never touches the relay or the tick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq import Retry

from workers.queues import DEFAULT, JOB_TIMEOUT, PERIODIC_JOB_TIMEOUT

PERIODIC_KEY_PREFIX = "intake:periodic:"


@dataclass(frozen=True)
class JobSpec:
    """How an outbox row's `job` name becomes an RQ job."""

    func: Callable[..., Any]
    queue: str
    retry: Retry | None = None
    on_failure: Callable[..., Any] | None = None
    timeout: int = JOB_TIMEOUT


@dataclass(frozen=True)
class PeriodicJob:
    id: str  # stable: the Redis key and the RQ job id derive from it
    interval: int  # seconds
    func: Callable[[], Any]
    queue: str = DEFAULT
    timeout: int = PERIODIC_JOB_TIMEOUT

    @property
    def key(self) -> str:
        return PERIODIC_KEY_PREFIX + self.id

    @property
    def job_id(self) -> str:
        return f"periodic-{self.id}"


# Called by the delivery job after a delivery on that channel failed for good:
# (hub, delivery id, the sender's error).
FailureHook = Callable[[Any, int, BaseException], Any]
