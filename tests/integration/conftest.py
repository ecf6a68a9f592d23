"""Integration helpers shared by several channels' tests: running the real worker in-process and
a loopback stand-in for Kakao's one-time callback URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from intake.hub import Hub
from workers import context
from workers.context import set_hub
from workers.queues import make_worker, worker_connection
from workers.relay import relay_once

# The KakaoTalk skill settings of the fixtures' bot (shared/fixtures/channels/kakao).
KAKAO_SECRET = "kakao-test-secret"
KAKAO_BOT_ID = "6531be77c4f0d21a9b8e5f13"


@pytest.fixture
def kakao_hub(hub: Hub) -> Iterator[Hub]:
    """The test hub with the KakaoTalk skill's secret and bot id configured."""
    original = hub.settings
    hub.settings = original.with_overrides(kakao_skill_secret=KAKAO_SECRET,
                                           kakao_bot_id=KAKAO_BOT_ID)
    try:
        yield hub
    finally:
        hub.settings = original



def run_jobs(hub: Hub, relay: bool = True) -> None:
    """Relay due outbox rows (unless told not to) and run their jobs in a real RQ SimpleWorker,
    in burst mode, in this process (so it sees the test's transaction). The hub the jobs saw
    before is restored afterwards."""
    previous = context._hub
    set_hub(hub)
    try:
        if relay:
            relay_once(hub)
        connection = worker_connection(hub.redis_url)
        try:
            make_worker(hub, connection).work(burst=True, with_scheduler=False)
        finally:
            connection.close()
    finally:
        set_hub(previous)


@pytest.fixture
def kakao_callback_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local stand-in for Kakao's one-time callback URL: answers like Kakao and keeps what
    was posted."""
    received: list[dict[str, Any]] = []

    def kakao(environ: Any, start_response: Any) -> Any:
        received.append(json.loads(Request(environ).get_data()))
        return Response(json.dumps({"taskId": "t", "status": "SUCCESS"}),
                        content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, kakao, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/cb/once", received
    finally:
        server.shutdown()
        thread.join(5)
