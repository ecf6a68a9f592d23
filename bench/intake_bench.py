"""Intake throughput and latency: `POST /api/v1/inquiries` against PostgreSQL, side by side with
a bare Flask endpoint served by the same gunicorn, printing the ratio.

With `--sms` (on by default) the same run also drives signed inbound Twilio SMS webhooks
(`POST /webhooks/twilio/sms`, distinct MessageSids and senders, `X-Twilio-Signature` computed
before the timed run with a bench-only Auth Token), so the signature check and the TwiML answer
are measured beside the same bare endpoint.

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
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.migrate import upgrade  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres")
DB_NAME = "intake_bench"
# Bench-only Twilio settings: the gunicorn under test verifies with them; nothing is sent.
BENCH_TWILIO_SID = "AC" + "0" * 32
BENCH_TWILIO_TOKEN = "bench0auth0token0not0real0000001"
BENCH_PUBLIC_URL = "https://intake.example.com"
SMS_PATH = "/webhooks/twilio/sms"
Request = tuple[bytes, dict[str, str]]


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


def signed_sms_requests(count: int) -> list[Request]:
    """`count` inbound SMS webhooks with distinct MessageSids and senders, signed in advance
    (the client's signing work stays out of the timed run)."""
    validator = RequestValidator(BENCH_TWILIO_TOKEN)
    url = BENCH_PUBLIC_URL + SMS_PATH
    out: list[Request] = []
    for _ in range(count):
        with _lock:
            n = next(_counter)
        sid = f"SM{uuid.uuid4().hex}"
        params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
                  "AccountSid": BENCH_TWILIO_SID, "From": f"+82103{n // 10000:03d}{n % 10000:04d}",
                  "To": "+12025550143", "Body": "안녕하세요, 코 성형 상담 가능할까요?",
                  "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": "2010-04-01"}
        out.append((urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, params)}))
    return out


def json_request() -> Request:
    return inquiry_body(), {"Content-Type": "application/json",
                            "Idempotency-Key": uuid.uuid4().hex}


def drive(port: int, path: str, total: int, concurrency: int,
          source: Callable[[], Request] = json_request,
          expect: int = 201) -> tuple[float, list[float], int]:
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
            body, headers = source()
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == expect
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


def process_cpu(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the gunicorn processes, by PostgreSQL (Linux /proc) and by
    this client, so each route's cost per request is measured, not guessed."""
    tick = os.sysconf("SC_CLK_TCK")
    own = os.times()
    totals = {"web": 0.0, "postgres": 0.0, "client": own.user + own.system}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ppid, cpu = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        if int(entry.name) == server_pid or ppid == server_pid:
            totals["web"] += cpu
        elif name.startswith("postgres"):
            totals["postgres"] += cpu
    return totals


def measured(server_pid: int, run: Callable[[], tuple[float, list[float], int]]
             ) -> tuple[tuple[float, list[float], int], dict[str, float]]:
    before = process_cpu(server_pid)
    result = run()
    after = process_cpu(server_pid)
    return result, {k: after[k] - before[k] for k in before}


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
    parser.add_argument("--sms", action=argparse.BooleanOptionalAction, default=True,
                        help="also drive signed inbound Twilio SMS webhooks")
    args = parser.parse_args()
    signed: list[Request] = signed_sms_requests(300 + args.rounds * args.requests) \
        if args.sms else []

    def next_signed() -> Request:
        with _lock:
            return signed.pop()

    url = fresh_database()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "INTAKE_RATE_LIMIT": "1000000/minute",
           "LOG_LEVEL": "WARNING", "INTAKE_SKIP_DOTENV": "1",
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
           "TWILIO_ACCOUNT_SID": BENCH_TWILIO_SID, "TWILIO_AUTH_TOKEN": BENCH_TWILIO_TOKEN,
           "PUBLIC_BASE_URL": BENCH_PUBLIC_URL}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.app:app", "-b", f"127.0.0.1:{port}",
         "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
         "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_for(port)
        drive(port, "/bench/bare", 300, args.concurrency)  # warm-up
        drive(port, "/api/v1/inquiries", 300, args.concurrency)
        if args.sms:
            drive(port, SMS_PATH, 300, args.concurrency, next_signed, 200)
        routes: dict[str, Callable[[], tuple[float, list[float], int]]] = {
            "bare": lambda: drive(port, "/bench/bare", args.requests, args.concurrency),
            "intake": lambda: drive(port, "/api/v1/inquiries", args.requests,
                                    args.concurrency)}
        if args.sms:
            routes["sms"] = lambda: drive(port, SMS_PATH, args.requests, args.concurrency,
                                          next_signed, 200)
        results: dict[str, list[tuple[float, list[float], int]]] = {name: [] for name in routes}
        cpu: dict[str, dict[str, float]] = {
            name: {"web": 0.0, "postgres": 0.0, "client": 0.0} for name in routes}
        for _ in range(args.rounds):  # interleaved, so all see the same machine state
            for name, run in routes.items():
                result, used = measured(server.pid, run)
                results[name].append(result)
                for part, seconds in used.items():
                    cpu[name][part] += seconds
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"gunicorn gthread {args.workers}x{args.threads}, {args.concurrency} keep-alive "
          f"clients, {args.rounds} rounds x {args.requests} requests per route")
    summary = {}
    requests: dict[str, int] = {}
    for name, runs in results.items():
        seconds = sum(r[0] for r in runs)
        lat = [x for r in runs for x in r[1]]
        errors = sum(r[2] for r in runs)
        rps = len(lat) / seconds
        per_round = [len(r[1]) / r[0] for r in runs]
        summary[name] = rps
        print(f"{name:>7}: {rps:8.1f} req/s (rounds {', '.join(f'{x:.0f}' for x in per_round)})"
              f"  p50 {pct(lat, 0.50):6.2f} ms  p99 {pct(lat, 0.99):6.2f} ms  errors {errors}"
              f"  CPU per request: gunicorn {cpu[name]['web'] / len(lat) * 1000:.2f} ms,"
              f" PostgreSQL {cpu[name]['postgres'] / len(lat) * 1000:.2f} ms,"
              f" client {cpu[name]['client'] / len(lat) * 1000:.2f} ms")
        requests[name] = len(lat)
    print(f"  ratio: {summary['intake'] / summary['bare']:.2f} (intake / bare; aim >= 0.5)")
    # The machine's CPU is shared by the server, PostgreSQL and this client, so a route's
    # throughput is (cores / CPU per request). Even if the intake route's Python cost no more
    # than the bare endpoint's, PostgreSQL's work for its rows would remain:
    bare = {part: seconds / requests["bare"] for part, seconds in cpu["bare"].items()}
    pg = cpu["intake"]["postgres"] / requests["intake"]
    whole_bare = sum(bare.values())
    print(f"  bound: {whole_bare / (whole_bare + pg):.2f} (the ratio if the intake route's Python "
          f"cost what the bare endpoint's does: PostgreSQL's {pg * 1000:.2f} ms per inquiry "
          f"remains)")
    if "sms" in summary:
        print(f"  ratio: {summary['sms'] / summary['bare']:.2f} (signed twilio sms / bare)")
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM consultations")).scalar()
        outbox = conn.execute(text("SELECT count(*) FROM outbox")).scalar()
    engine.dispose()
    print(f"stored: {stored} consultations, {outbox} outbox rows")


if __name__ == "__main__":
    main()
