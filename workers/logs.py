"""Job-aware logging for worker processes: every record logged while a job runs carries the
job's id and function (`job_id`, `job_func`; `-` outside a job), for formatters that show them.
Masking of personal data is `intake.redaction`'s filter, installed alongside."""

from __future__ import annotations

import logging

from rq import get_current_job

from intake.redaction import install_log_masking


class JobContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        record.job_id = job.id if job is not None else "-"
        record.job_func = job.func_name if job is not None else "-"
        return True


def install_worker_logging() -> None:
    """Stamp job context on, and mask, everything the root logger's handlers emit."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, JobContextFilter) for f in handler.filters):
            handler.addFilter(JobContextFilter())
    install_log_masking(root)
