"""The hub's running parts for one process: settings, database, clinic, Redis, senders.

Created by `create_app` (web) or by the worker entry point; nothing connects at construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from redis import Redis

from config import Settings
from intake.clinic import Clinic
from intake.db import Database
from intake.storage import AttachmentStore, LocalStore


@dataclass
class Hub:
    settings: Settings
    db: Database
    clinic: Clinic
    redis_url: str
    _redis: Redis | None = None
    _store: AttachmentStore | None = None
    # Filled by the composition root: things the domain must not import (channel senders...).
    services: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        return cls(settings=settings, db=Database(settings.database_url),
                   clinic=Clinic.from_settings(settings), redis_url=settings.redis_url)

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.redis_url, socket_timeout=5,
                                         socket_connect_timeout=2, health_check_interval=30)
        return self._redis

    @property
    def store(self) -> AttachmentStore:
        """Where attachment content lives (local files under ATTACHMENTS_DIR)."""
        if self._store is None:
            self._store = LocalStore(self.settings.attachments_dir)
        return self._store

    def use_store(self, store: AttachmentStore) -> None:
        self._store = store

    def use_redis(self, url: str) -> None:
        self.redis_url = url
        self._redis = None

    def service(self, name: str) -> Any:
        return self.services[name]

    def register(self, name: str, factory: Callable[..., Any] | Any) -> None:
        self.services[name] = factory


def current_hub() -> Hub:
    hub: Hub = current_app.extensions["intake"]
    return hub
