"""`create_app`: the Flask application factory.

The domain's own blueprints (counsellor API, health, OpenAPI) are registered here; channel
adapters are registered by the composition root (`wsgi.py`) through `extensions`, so that
`intake/` never imports `channels/`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from config import Settings
from intake.db import MAX_ID
from intake.errors import register_error_handlers
from intake.hub import Hub
from intake.redaction import install_log_masking

Extension = Callable[[Flask, Hub], None]


def create_app(settings: Settings | None = None, extensions: Iterable[Extension] = (),
               hub: Hub | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_relative_config=False)
    # Before any route: `<int:id>` matches only ids a BigId column can hold, so an absurd id
    # in a URL is a 404 like any unknown one, not a database error.
    app.url_map.converters["int"] = IdConverter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.trusted_proxy_count > 0:
        n = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n,  # type: ignore[method-assign]
                                x_host=n, x_port=n)
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_masking()

    hub = hub or Hub.from_settings(settings)
    app.extensions["intake"] = hub
    register_error_handlers(app)

    from intake.api import register_api
    from intake.cli import register_cli
    from intake.health import bp as health_bp
    from intake.workspace import register_workspace

    app.register_blueprint(health_bp)
    register_api(app)
    register_workspace(app)
    register_cli(app)
    for extension in extensions:
        extension(app, hub)

    https = settings.public_base_url.startswith("https://")

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if https:
            # R26: personal data only crosses the internet encrypted; browsers keep to HTTPS.
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        if request.path.startswith(("/api/", "/workspace")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def client_address() -> str:
    """The caller's address: ProxyFix has already applied TRUSTED_PROXY_COUNT."""
    return request.remote_addr or "unknown"


class IdConverter(IntegerConverter):
    """Werkzeug's `int`, bounded to the ids' range."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)
