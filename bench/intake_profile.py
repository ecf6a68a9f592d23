"""Where an inquiry's time goes: CPU per request of each part of `POST /api/v1/inquiries`,
measured in one process (Flask's test client, no HTTP server, one thread), beside the bare
endpoint of `bench/app.py`.

`make profile` (or `python bench/intake_profile.py --requests 1000`). It uses the same fresh
PostgreSQL database `intake_bench` as `bench/intake_bench.py` and wraps the named functions
with CPU timers; a part's time includes the parts it calls (`receive` includes `resolve`...).
The figures are CPU of this process only: PostgreSQL's own CPU per request is printed by
`make bench`. Loopback only; request loops are bounded.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(owner: Any, name: str, label: str, spent: Counter[str], calls: Counter[str]) -> None:
    """Replace `owner.name` with a wrapper adding its CPU time to `spent[label]`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - start
            calls[label] += 1

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()

    from bench.intake_bench import fresh_database, json_request

    os.environ.update({"DATABASE_URL": fresh_database(), "INTAKE_RATE_LIMIT": "1000000/minute",
                       "LOG_LEVEL": "WARNING", "INTAKE_SKIP_DOTENV": "1"})
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

    from sqlalchemy.orm import SessionTransaction

    import channels.web.api as api
    import intake.services.consent as consent
    import intake.services.receive as receive
    from bench.app import app

    spent: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    parts: list[tuple[Any, str, str]] = [
        (api, "create_inquiry", "the view (all of the route's own work)"),
        (api, "client_allowed", "  rate limit (Redis)"),
        (api.InquirySchema, "load", "  validation (marshmallow)"),
        (api, "build_inquiry", "  the Inquiry value"),
        (api, "receive_once", "  receive_once (transaction)"),
        (receive, "_find_existing", "    replay check (1 SELECT)"),
        (receive, "resolve_person", "    person and contact points (1 SELECT, 2 INSERT)"),
        (consent.Ledger, "of", "    consent states read"),
        (consent.Ledger, "write", "    consent events and states (2 INSERT)"),
        (receive, "_schedule_outbound", "    acknowledgement text + delivery (3 INSERT)"),
        (SessionTransaction, "commit", "    COMMIT"),
    ]
    for owner, name, label in parts:
        timed(owner, name, label, spent, calls)
    app.view_functions["web_api.create_inquiry"] = api.create_inquiry

    client = app.test_client()

    def post(path: str) -> None:
        body, headers = json_request()
        response = client.post(path, data=body, headers=headers)
        assert response.status_code == 201, response.status_code

    def per_request(path: str) -> float:
        start = time.process_time()
        for _ in range(args.requests):
            post(path)
        return (time.process_time() - start) / args.requests * 1000

    for _ in range(200):  # warm-up: statement caches, prepared statements, connections
        post("/bench/bare")
        post("/api/v1/inquiries")
    spent.clear()
    calls.clear()
    run: dict[str, Callable[[], float]] = {
        "bare": lambda: per_request("/bench/bare"),
        "intake": lambda: per_request("/api/v1/inquiries")}
    totals = {name: measure() for name, measure in run.items()}

    print(f"CPU per request in one process, {args.requests} requests each "
          f"(Flask test client, PostgreSQL on loopback)")
    print(f"  bare endpoint: {totals['bare']:6.2f} ms")
    print(f"  POST /api/v1/inquiries: {totals['intake']:6.2f} ms "
          f"(ratio of CPU bare / intake {totals['bare'] / totals['intake']:.2f})")
    for _owner, _name, label in parts:
        if calls[label]:
            print(f"  {label:<56} {spent[label] / args.requests * 1000:6.2f} ms"
                  f"  ({calls[label] / args.requests:.0f} per request)")


if __name__ == "__main__":
    main()
