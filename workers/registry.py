"""Every channel's jobs in one place: the relay, the periodic tick and the delivery job read
these, so a channel adds work (jobs, periodic jobs, a hook for permanent delivery failures) by
filling its own `workers/<channel>_jobs.py`."""

from __future__ import annotations

from collections.abc import Mapping

from workers import email_jobs, kakao_jobs, twilio_jobs
from workers.specs import FailureHook, JobSpec, PeriodicJob

_MODULES = (twilio_jobs, email_jobs, kakao_jobs)

CHANNEL_JOBS: Mapping[str, JobSpec] = {
    name: spec for module in _MODULES for name, spec in module.JOBS.items()
}
CHANNEL_PERIODIC: tuple[PeriodicJob, ...] = tuple(
    job for module in _MODULES for job in module.PERIODIC
)
FAILURE_HOOKS: Mapping[str, FailureHook] = {
    channel: hook for module in _MODULES
    for channel, hook in getattr(module, "FAILURE_HOOKS", {}).items()
}
