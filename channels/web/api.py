"""`POST /api/v1/inquiries`: the web inquiry as JSON, for the homepage and API integrations.

Public (no token) and rate-limited per client address. The checks run cheapest first: rate
limit, `Idempotency-Key`, content type, JSON, fields; a refused request writes nothing to the
database and is logged by field names only. `Idempotency-Key` becomes the message's provider id
and the request's SHA-256 is stored with the message, so for as long as the message is kept a
retry answers the first result (201 again, `Idempotent-Replayed: true`) and the same key with
another body is 409 `idempotency_key_reused`. Nothing of it lives in Redis: a Redis restart
cannot turn a reused key into a silently dropped inquiry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import ValidationError

from channels.web.adapter import WebSource, build_inquiry
from channels.web.limits import client_allowed
from channels.web.schemas import InquiryCreatedSchema, InquirySchema, field_errors
from intake import metrics
from intake.api.docs import documented
from intake.api.request import json_body
from intake.app import client_address
from intake.errors import ApiError, error_response
from intake.hub import current_hub
from intake.inquiry import Receipt
from intake.services.receive import InquiryRejected, ProviderIdReused, receive_once

log = logging.getLogger("channels.web.api")

bp = Blueprint("web_api", __name__, url_prefix="/api/v1")

IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# Messages.provider_id holds 255 characters: a longer key is hashed (still stable per key).
_PROVIDER_ID_MAX = 255


def provider_id_for(key: str | None) -> str:
    if key is None:
        return f"api:{uuid.uuid4()}"
    provider_id = f"key:{key}"
    if len(provider_id) > _PROVIDER_ID_MAX:
        provider_id = f"key:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return provider_id


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(400, "bad_idempotency_key",
                       "Idempotency-Key must be 1 to 255 printable ASCII characters")
    return key


def _fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _answer(body: dict[str, Any], receipt: Receipt) -> Response:
    response = jsonify(body)
    response.status_code = 201
    if not receipt.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _validation_failed(fields: dict[str, list[str]], reason: str = "validation") -> Response:
    log.info("channels.web.api.refused reason=%s fields=%s", reason, ",".join(sorted(fields)))
    metrics.refused(current_hub().redis, "inquiries", reason)
    return error_response(422, "validation_failed", "the inquiry has invalid fields",
                          fields=fields)


@bp.post("/inquiries")
@documented("/api/v1/inquiries", "post", "Submit a consultation inquiry (web form, API "
            "integrations); an Idempotency-Key header makes a retry answer the first result",
            tag="inquiries", body=InquirySchema, response=InquiryCreatedSchema, status=201,
            public=True, errors=(400, 409, 413, 415, 429))
def create_inquiry() -> Response:
    hub = current_hub()
    allowed, retry_after = client_allowed(hub)
    if not allowed:
        log.info("channels.web.api.refused reason=rate_limited")
        metrics.refused(hub.redis, "inquiries", "rate_limited")
        response = error_response(429, "rate_limited", "too many requests from this address; "
                                  "try again later", retry_after=retry_after)
        response.headers["Retry-After"] = str(retry_after)
        return response
    try:
        key = _idempotency_key()
        payload = json_body()  # 415 for another content type, 400 bad_json
    except ApiError as exc:
        log.info("channels.web.api.refused reason=%s", exc.code)
        metrics.refused(hub.redis, "inquiries", exc.code)
        raise  # the app's handler answers it as JSON
    if not isinstance(payload, dict):
        return _validation_failed({"_schema": ["the body must be a JSON object"]})
    schema = InquirySchema(interests=hub.clinic.interests, tz=hub.clinic.tz)
    try:
        data = schema.load(payload)
    except ValidationError as exc:
        return _validation_failed(field_errors(exc.messages))

    provider_id = provider_id_for(key)
    inquiry = build_inquiry(data, hub.clinic, provider_id=provider_id, source=WebSource.API,
                            source_ip=client_address(),
                            request_digest=_fingerprint(payload) if key is not None else None)
    try:
        receipt = receive_once(hub.db, inquiry, hub.clinic)
    except InquiryRejected as exc:
        return _validation_failed({exc.field: [str(exc)]}, reason="rejected")
    except ProviderIdReused:
        log.info("channels.web.api.refused reason=idempotency_key_reused")
        metrics.refused(hub.redis, "inquiries", "idempotency_key_reused")
        return error_response(409, "idempotency_key_reused", "this Idempotency-Key was used "
                              "with a different request body")
    body = {"consultation_id": receipt.consultation_id, "person_id": receipt.person_id,
            "message_id": receipt.message_id, "status": receipt.status}
    log.info("channels.web.api.received consultation_id=%s created=%s",
             receipt.consultation_id, receipt.created)
    return _answer(body, receipt)
