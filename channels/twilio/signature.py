"""Twilio's `X-Twilio-Signature`, checked with the SDK's `RequestValidator` before anything else.

The signed URL is the one Twilio called: `PUBLIC_BASE_URL` + path + query, never the Host
header (behind a TLS-terminating proxy the app sees `http://`, Twilio signed `https://`:
twilio/twilio-python#751). Numbers in a Messaging Service pool are signed the same way, since
the Service calls our URL with the account's Auth Token. JSON-body webhooks carry `bodySHA256`
in the query and are checked over the raw body.

Twilio's newer signing mode (`X-Twilio-Webhooks-Signature-Settings: ...algorithm=HMAC_SHA256`)
signs with a separate SharedKey secret: with that key configured (the planned setting
TWILIO_WEBHOOK_SHARED_KEY, read here if the settings declare it) the request is verified with
HMAC-SHA256 over the same URL and parameters; without it, or for any other algorithm, it is
refused (403), never waved through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import parse_qs

from flask import Request, request
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from intake.errors import error_response
from intake.hub import current_hub

log = logging.getLogger("channels.twilio")
SIGNATURE_HEADER = "X-Twilio-Signature"


def public_url(base_url: str, req: Request) -> str:
    """The URL Twilio requested: our public base, the path and the raw query."""
    url = base_url.rstrip("/") + req.path
    query = req.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def check(req: Request, auth_token: str, base_url: str, shared_key: str = "") -> str | None:
    """None when `req` is signed by Twilio, else the reason it is not: with `auth_token`
    (HMAC-SHA1, the default) or, when the signature-settings header names HMAC_SHA256, with
    `shared_key` (refused while no key is configured)."""
    if not auth_token:
        return "not_configured"
    algorithm = get_signature_algorithm(req.headers.get(SIGNATURE_SETTINGS_HEADER)).upper()
    if algorithm == HMAC_SHA1:
        secret = auth_token
    elif algorithm == HMAC_SHA256 and shared_key:
        secret = shared_key
    else:
        return "unsupported_algorithm"
    signature = req.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return "missing_signature"
    url = public_url(base_url, req)
    params: Any
    if "bodySHA256" in parse_qs(req.query_string.decode("latin-1")):
        params = req.get_data(as_text=True)
    elif req.mimetype == "application/x-www-form-urlencoded":
        params = req.form
    else:
        params = {}
    if not RequestValidator(secret).validate(url, params, signature, algorithm=algorithm):
        return "bad_signature"
    return None


def verified(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (403, nothing read or written) a request Twilio did not sign."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hub = current_hub()
        # Not declared in config.py yet (planned): absent means HMAC-SHA256 stays refused.
        shared_key = hub.settings.twilio_webhook_shared_key
        reason = check(request, hub.settings.twilio_auth_token, hub.settings.public_base_url,
                       shared_key)
        if reason is not None:
            log.warning("channels.twilio.signature_invalid reason=%s path=%s", reason,
                        request.path)
            return error_response(403, "forbidden", "the request is not signed by Twilio")
        return view(*args, **kwargs)

    return wrapper
