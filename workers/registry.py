"""Every channel's jobs in one place: the relay and the periodic tick read these, so a channel
adds work by filling its own `workers/<channel>_jobs.py`."""

from __future__ import annotations

from collections.abc import Mapping

from workers import email_jobs, kakao_jobs, twilio_jobs
from workers.specs import JobSpec, PeriodicJob

_MODULES = (twilio_jobs, email_jobs, kakao_jobs)

CHANNEL_JOBS: Mapping[str, JobSpec] = {
    name: spec for module in _MODULES for name, spec in module.JOBS.items()
}
CHANNEL_PERIODIC: tuple[PeriodicJob, ...] = tuple(
    job for module in _MODULES for job in module.PERIODIC
)
