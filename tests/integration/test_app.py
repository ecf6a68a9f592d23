"""The app as a whole: health, security headers."""

from __future__ import annotations


def test_https_deployments_send_hsts_R26(client):
    """The test settings' PUBLIC_BASE_URL is https: every answer tells browsers to keep to it."""
    response = client.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_healthz_reports_database_and_redis(client):
    body = client.get("/healthz").get_json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_healthz_is_degraded_not_down_without_redis(client, hub):
    """The web app keeps accepting inquiries while Redis is away (the outbox keeps them)."""
    original = hub.redis_url
    hub.use_redis("redis://127.0.0.1:1/0")
    try:
        response = client.get("/healthz")
    finally:
        hub.use_redis(original)
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
