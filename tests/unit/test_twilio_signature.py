"""`X-Twilio-Signature` checked by the SDK's RequestValidator over PUBLIC_BASE_URL + path +
query, against every Twilio case of signature_vectors.json."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from flask import Flask

from channels.twilio.signature import check, public_url
from tests.conftest import FIXTURES

VECTORS = json.loads((FIXTURES / "signature_vectors.json").read_text(encoding="utf-8"))["twilio"]
BASE = "https://intake.example.com"
app = Flask(__name__)


def _request_for(case: dict, base: str = BASE):
    parts = urlsplit(case["url"])
    headers = {"X-Twilio-Signature": case["expected_signature"]}
    if "raw_body" in case and "params_file" not in case:
        return app.test_request_context(parts.path, method="POST", query_string=parts.query,
                                        data=case["raw_body"], headers=headers,
                                        content_type="application/json")
    params = json.loads((FIXTURES / case["params_file"]).read_text(encoding="utf-8"))
    return app.test_request_context(parts.path, method="POST", query_string=parts.query,
                                    data=params, headers=headers)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_fixture_vectors(case):
    from flask import request

    token = case.get("auth_token_override", VECTORS["auth_token"])
    with _request_for(case):
        reason = check(request, token, BASE)
    if case.get("expected_valid", True):
        assert reason is None
    else:
        assert reason == "bad_signature"


def test_public_url_uses_the_configured_base_not_the_host_header():
    from flask import request

    with app.test_request_context("/webhooks/twilio/sms", base_url="http://10.0.0.5:8000",
                                  query_string="clinic=gangnam", method="POST"):
        assert public_url(BASE + "/", request) == \
            "https://intake.example.com/webhooks/twilio/sms?clinic=gangnam"


def test_body_hash_mismatch_is_refused():
    from flask import request

    case = next(c for c in VECTORS["cases"] if c["name"] == "json_body_sha256")
    tampered = {**case, "raw_body": case["raw_body"].replace("delivered", "failed")}
    with _request_for(tampered):
        assert check(request, VECTORS["auth_token"], BASE) == "bad_signature"


@pytest.mark.parametrize("header", ["key=webhooks_sharedkey_abc,algorithm=HMAC_SHA256",
                                    "algorithm=HMAC_SHA512"])
def test_other_signing_modes_are_refused(header):
    from flask import request

    case = VECTORS["cases"][0]
    with _request_for(case) as ctx:
        ctx.request.environ["HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS"] = header
        assert check(request, VECTORS["auth_token"], BASE) == "unsupported_algorithm"


def test_missing_signature_and_missing_token():
    from flask import request

    with app.test_request_context("/webhooks/twilio/sms", method="POST", data={"a": "b"}):
        assert check(request, VECTORS["auth_token"], BASE) == "missing_signature"
        assert check(request, "", BASE) == "not_configured"


# -- HMAC-SHA256 signing mode (X-Twilio-Webhooks-Signature-Settings) ----------------------------

SHARED_KEY = "fixture0shared0key0not0real000001"
SHA256_SETTINGS = "key=webhooks_sharedkey_fixture,algorithm=HMAC_SHA256"


def _sha256_vector(url: str, params: dict[str, str], key: str) -> str:
    """Computed independently of the SDK: base64(HMAC-SHA256(key, url + sorted name+value))."""
    import base64
    import hashlib
    import hmac

    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), payload.encode(), hashlib.sha256)
                            .digest()).decode()


def _sha256_request(signature: str, params: dict[str, str]):
    return app.test_request_context(
        "/webhooks/twilio/sms", method="POST", query_string="clinic=gangnam", data=params,
        headers={"X-Twilio-Signature": signature,
                 "X-Twilio-Webhooks-Signature-Settings": SHA256_SETTINGS})


SHA256_PARAMS = {"MessageSid": "SM" + "a" * 32, "From": "+821023456789", "Body": "문의드립니다"}
SHA256_URL = BASE + "/webhooks/twilio/sms?clinic=gangnam"


def test_hmac_sha256_mode_is_verified_with_the_shared_key():
    from flask import request

    signature = _sha256_vector(SHA256_URL, SHA256_PARAMS, SHARED_KEY)
    with _sha256_request(signature, SHA256_PARAMS):
        assert check(request, VECTORS["auth_token"], BASE, SHARED_KEY) is None


@pytest.mark.parametrize("signer", ["wrong_key", "auth_token_sha1", "auth_token_sha256"])
def test_hmac_sha256_mode_refuses_other_signatures(signer):
    from flask import request
    from twilio.request_validator import RequestValidator

    token = VECTORS["auth_token"]
    signature = {
        "wrong_key": _sha256_vector(SHA256_URL, SHA256_PARAMS, SHARED_KEY[:-1] + "2"),
        "auth_token_sha1": RequestValidator(token).compute_signature(SHA256_URL, SHA256_PARAMS),
        "auth_token_sha256": _sha256_vector(SHA256_URL, SHA256_PARAMS, token),
    }[signer]
    with _sha256_request(signature, SHA256_PARAMS):
        assert check(request, token, BASE, SHARED_KEY) == "bad_signature"


def test_hmac_sha256_mode_is_refused_while_no_shared_key_is_configured():
    from flask import request

    signature = _sha256_vector(SHA256_URL, SHA256_PARAMS, SHARED_KEY)
    with _sha256_request(signature, SHA256_PARAMS):
        assert check(request, VECTORS["auth_token"], BASE) == "unsupported_algorithm"
        assert check(request, VECTORS["auth_token"], BASE, "") == "unsupported_algorithm"


def test_hmac_sha256_mode_with_a_tampered_parameter_is_refused():
    from flask import request

    signature = _sha256_vector(SHA256_URL, SHA256_PARAMS, SHARED_KEY)
    with _sha256_request(signature, {**SHA256_PARAMS, "Body": "changed"}):
        assert check(request, VECTORS["auth_token"], BASE, SHARED_KEY) == "bad_signature"
