"""One error shape for every JSON route: `{"error": CODE, "message": TEXT}` (+ `fields` on 422).

Pages (the form, the workspace) render HTML errors; `/api` and `/webhooks` always answer JSON,
including for 404, 405, 413 and unexpected failures, so a client never sees a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("intake.errors")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    response = jsonify({"error": code, "message": message, **extra})
    response.status_code = status
    return response


def flatten_messages(messages: Any) -> dict[str, list[str]]:
    """marshmallow's nested messages → {field: [messages]}, with dotted names for nesting."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out.setdefault(prefix or "_schema", []).extend(value)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}", sub)
        else:
            out.setdefault(prefix or "_schema", []).append(str(value))

    walk("", messages)
    return out


def validation_response(exc: ValidationError) -> Response:
    return error_response(422, "validation_failed", "the request has invalid fields",
                          fields=flatten_messages(exc.messages))


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/healthz"))


CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
         415: "unsupported_media_type", 422: "validation_failed", 429: "rate_limited"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        return validation_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not _wants_json():
            return exc
        status = exc.code or 500
        return error_response(status, CODES.get(status, "http_error"),
                              exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("intake.unhandled_error path=%s", request.path)
        if _wants_json():
            return error_response(500, "internal_error", "something went wrong on our side")
        return Response("Internal error", status=500)
