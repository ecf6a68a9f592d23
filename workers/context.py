"""The process-wide Hub that RQ jobs use.

Jobs take ids, never objects, so they need the running parts (database, Redis, clinic, senders)
from somewhere: the worker entry point calls `set_hub` once at start, tests call it with their
test hub, and jobs call `get_hub`. Nothing is built at import time.
"""

from __future__ import annotations

import threading

from config import Settings
from intake.hub import Hub

_hub: Hub | None = None
_lock = threading.Lock()


def build_hub(settings: Settings | None = None) -> Hub:
    """A hub from the environment (or `settings`) with one sender per outbound channel."""
    hub = Hub.from_settings(settings or Settings.from_env())
    ensure_senders(hub)
    return hub


def ensure_senders(hub: Hub) -> None:
    """Register the channel senders unless the composition root already has."""
    if "senders" not in hub.services:
        from channels import build_senders

        hub.register("senders", build_senders(hub))


def set_hub(hub: Hub | None) -> None:
    """Make `hub` the one jobs in this process use (None forgets it)."""
    global _hub
    with _lock:
        if hub is not None:
            ensure_senders(hub)
        _hub = hub


def get_hub() -> Hub:
    hub = _hub
    if hub is None:
        raise RuntimeError("no hub for jobs in this process: the worker entry point (or a test) "
                           "must call workers.context.set_hub(hub) first")
    return hub
