"""Test set-up: the real PostgreSQL (or SQLite) and the real Redis, never mocks of our own.

- one database per test process (xdist worker), migrated once with Alembic (so the migrations
  are tested, not `create_all`);
- each test runs inside a transaction that is rolled back; the code under test may commit, into
  savepoints (`Database.bind_to`);
- one Redis database number per test process, flushed per test;
- a missing service fails the run (in CI, never a skip).

Settings: TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1/test, used as the admin
connection to create `intake_test_<worker>`; a sqlite URL runs the suite on SQLite), REDIS_URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import Settings, normalise_database_url
from intake.hub import Hub
from intake.migrate import upgrade

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1/test"
FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "channels"


def _worker_id(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def _worker_number(worker: str) -> int:
    match = re.search(r"(\d+)$", worker)
    return int(match.group(1)) + 1 if match else 0


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    raw = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    worker = _worker_id(request.config)
    if raw.startswith("sqlite"):
        path = tmp_path_factory.mktemp("db") / f"intake_{worker}.sqlite3"
        url = f"sqlite:///{path}"
    else:
        admin = normalise_database_url(raw)
        # The pid keeps concurrent runs (two developers, CI) out of each other's database.
        name = f"intake_test_{worker}_{os.getpid()}"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001
            pytest.exit(f"PostgreSQL is not reachable at {raw}: {exc}", returncode=3)
        finally:
            engine.dispose()
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    if not raw.startswith("sqlite"):
        engine = create_engine(normalise_database_url(raw), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    # TEST_REDIS_DB picks the first database number (so that concurrent runs stay apart).
    first = int(os.environ.get("TEST_REDIS_DB", "1"))
    number = (first + _worker_number(_worker_id(request.config))) % 16
    url = re.sub(r"/\d+$", "", base.rstrip("/")) + f"/{number}"
    try:
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.exit(f"Redis is not reachable at {url}: {exc}", returncode=3)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(database_url=database_url, redis_url=redis_url, testing=True,
                    secret_key="test-secret", public_base_url="https://intake.example.com",
                    intake_rate_limit=(1000, 60),
                    attachments_dir=str(tmp_path_factory.mktemp("attachments")))


@pytest.fixture(scope="session")
def hub(settings: Settings) -> Iterator[Hub]:
    hub = Hub.from_settings(settings)
    yield hub
    hub.db.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, hub: Hub) -> Flask:
    from wsgi import build_app

    return build_app(settings, hub=hub)


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    """Roll back each test's database work and flush its Redis, when the test uses them."""
    if "hub" not in request.fixturenames or "committed" in request.keywords:
        yield
        return
    hub: Hub = request.getfixturevalue("hub")
    hub.redis.flushdb()
    connection = hub.db.engine.connect()
    transaction = connection.begin()
    original = hub.db.factory
    hub.db.bind_to(connection)
    try:
        yield
    finally:
        hub.db.factory = original
        transaction.rollback()
        connection.close()


@pytest.fixture
def db(hub: Hub) -> Any:
    return hub.db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def redis(hub: Hub) -> Redis:
    return hub.redis


