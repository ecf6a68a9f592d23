"""Reading requests: JSON bodies and query strings through a schema, with the contract's
errors (415 wrong content type, 400 malformed JSON, 422 invalid fields)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from intake.errors import ApiError


def parse_json_text(raw: bytes) -> Any:
    """JSON whose strings are Unicode text: a lone surrogate escape (`"\\ud800"`) is valid
    JSON syntax but no text anyone can store, so it is refused like malformed JSON (ValueError)
    instead of failing later, in Redis or the database, as a 500."""
    data = json.loads(raw or b"null")
    if b"\\ud" in raw or b"\\uD" in raw:  # only then can a lone surrogate be there
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate escape") from None
    return data


def json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    try:
        return parse_json_text(request.get_data(cache=True))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None


def load_body(schema: type[Schema]) -> dict[str, Any]:
    data = json_body()
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    result: dict[str, Any] = schema().load(data)
    return result


def load_query(schema: type[Schema]) -> dict[str, Any]:
    result: dict[str, Any] = schema().load(request.args.to_dict())
    return result


def encode_cursor(at: datetime | None, ident: int) -> str:
    raw = json.dumps([at.isoformat() if at else None, ident]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, ident = json.loads(base64.urlsafe_b64decode(padded))
        return (datetime.fromisoformat(at) if at else None), int(ident)
    except (ValueError, TypeError):
        raise ValidationError({"cursor": ["not a cursor this API gave out"]}) from None
