"""Jobs of the kakao channel (filled in by its issue): outbox job specs and periodic jobs."""

from __future__ import annotations

from collections.abc import Mapping

from workers.specs import JobSpec, PeriodicJob

JOBS: Mapping[str, JobSpec] = {}
PERIODIC: tuple[PeriodicJob, ...] = ()
