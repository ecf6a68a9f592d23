"""Intake throughput and latency: `POST /api/v1/inquiries` against PostgreSQL, side by side with
a bare Flask endpoint served by the same gunicorn, printing the ratio.

Run with `make bench` (or `python bench/intake_bench.py --requests 3000`). It creates a fresh
database `intake_bench` on the local PostgreSQL, migrates it, starts gunicorn on a free loopback
port, drives both routes in interleaved rounds from a thread pool with keep-alive connections,
and stops everything. Loopback only; request loops are bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.migrate import upgrade  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres")
DB_NAME = "intake_bench"


def fresh_database() -> str:
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    engine.dispose()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"
    upgrade(url)
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


_counter = iter(range(10**9))
_lock = threading.Lock()


def inquiry_body() -> bytes:
    with _lock:
        n = next(_counter)
    return json.dumps({
        "name": "김민수", "phone": f"010-{2000 + n // 10000:04d}-{n % 10000:04d}",
        "email": f"bench{n}@example.com", "sex": "female", "age": 31, "region": "서울",
        "interests": ["nose", "eyes"], "preferred_hours": "평일 저녁",
        "message": "코 성형 상담을 받고 싶습니다.", "reply_channel": "email",
        "consents": {"sensitive_health": True, "marketing": ["sms"], "marketing_night": []},
        "locale": "ko",
    }, ensure_ascii=False).encode()


def drive(port: int, path: str, total: int, concurrency: int) -> tuple[float, list[float], int]:
    """Send `total` requests with `concurrency` keep-alive clients; (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    remaining = [total]

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: list[float] = []
        while True:
            with _lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            body = inquiry_body()
            headers = {"Content-Type": "application/json",
                       "Idempotency-Key": uuid.uuid4().hex}
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 201
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            local.append(time.perf_counter() - start)
            if not ok:
                with _lock:
                    errors += 1
        conn.close()
        with _lock:
            latencies.extend(local)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, errors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per route per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    url = fresh_database()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "INTAKE_RATE_LIMIT": "1000000/minute",
           "LOG_LEVEL": "WARNING", "INTAKE_SKIP_DOTENV": "1",
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.app:app", "-b", f"127.0.0.1:{port}",
         "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
         "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_for(port)
        drive(port, "/bench/bare", 300, args.concurrency)  # warm-up
        drive(port, "/api/v1/inquiries", 300, args.concurrency)
        results: dict[str, list[tuple[float, list[float], int]]] = {"bare": [], "intake": []}
        for _ in range(args.rounds):  # interleaved, so both see the same machine state
            results["bare"].append(drive(port, "/bench/bare", args.requests, args.concurrency))
            results["intake"].append(drive(port, "/api/v1/inquiries", args.requests,
                                           args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"gunicorn gthread {args.workers}x{args.threads}, {args.concurrency} keep-alive "
          f"clients, {args.rounds} rounds x {args.requests} requests per route")
    summary = {}
    for name, runs in results.items():
        seconds = sum(r[0] for r in runs)
        lat = [x for r in runs for x in r[1]]
        errors = sum(r[2] for r in runs)
        rps = len(lat) / seconds
        per_round = [len(r[1]) / r[0] for r in runs]
        summary[name] = rps
        print(f"{name:>7}: {rps:8.1f} req/s (rounds {', '.join(f'{x:.0f}' for x in per_round)})"
              f"  p50 {pct(lat, 0.50):6.2f} ms  p99 {pct(lat, 0.99):6.2f} ms  errors {errors}")
    print(f"  ratio: {summary['intake'] / summary['bare']:.2f} (intake / bare; aim >= 0.5)")
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM consultations")).scalar()
        outbox = conn.execute(text("SELECT count(*) FROM outbox")).scalar()
    engine.dispose()
    print(f"stored: {stored} consultations, {outbox} outbox rows")


if __name__ == "__main__":
    main()
