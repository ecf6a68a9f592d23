"""Twilio SMS end to end on real services: signed webhooks into the real app and PostgreSQL,
the real RQ worker (in-process, burst) and the real twilio SDK `Client` talking to a local
stand-in of Twilio's Messages REST API (its documented JSON), reached through
TWILIO_API_BASE_URL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from channels.base import TransientSendError, UnknownOutcomeError
from channels.twilio.sender import RateLimiter, TwilioSmsSender
from intake.hub import Hub
from intake.models import (
    Attachment,
    ConsentEvent,
    ConsentState,
    Consultation,
    Delivery,
    Message,
    PendingProviderStatus,
)
from intake.services.deliveries import schedule_delivery
from tests.conftest import FIXTURES
from workers.context import set_hub
from workers.runner import run_worker

TOKEN = "fixture0auth0token0not0real00001"
ACCOUNT = "AC5f3c0a9e7b1d4c2a8e6f0b3d9c7a1e42"
BASE = "https://intake.example.com"
FROM_NUMBER = "+12025550143"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2048


def fixture(name: str) -> dict[str, str]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# -- a local stand-in of Twilio's REST API ----------------------------------------------------


@dataclass
class StandIn:
    """Messages.json (create and list), media downloads and Recordings/{sid}.json (delete), as
    Twilio documents them."""

    port: int = 0
    created: list[dict[str, str]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # resources, oldest first
    listed: list[dict[str, str]] = field(default_factory=list)  # list queries received
    deleted: list[str] = field(default_factory=list)  # RecordingSids deleted
    recordings: set[str] = field(default_factory=set)  # RecordingSids Twilio still holds
    mode: str = "ok"  # ok | 21610 | 400 | 500 | slow
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    auth_seen: list[str] = field(default_factory=list)
    counter: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def media_url(self, name: str) -> str:
        return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/SMx/Media/{name}"


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            state.auth_seen.append(self.headers.get("Authorization", ""))
            path, _, query = self.path.partition("?")
            if path.endswith(f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"):
                self._list_messages(path, {k: v[0] for k, v in parse_qs(query).items()})
                return
            name = self.path.rsplit("/", 1)[-1]
            if name not in state.media:
                self._json(404, {"code": 20404, "message": "not found", "status": 404})
                return
            content, content_type = state.media[name]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def _list_messages(self, path: str, query: dict[str, str]) -> None:
            """GET Messages.json?To=&From=&PageSize=: newest first, one page."""
            state.listed.append(query)
            rows = [m for m in reversed(state.messages)
                    if ("To" not in query or m["to"] == query["To"])
                    and ("From" not in query or m["from"] == query["From"])]
            size = int(query.get("PageSize", "50"))
            self._json(200, {"messages": rows[:size], "end": min(size, len(rows)) - 1,
                             "first_page_uri": path + "?PageSize=" + str(size),
                             "next_page_uri": None, "page": 0, "page_size": size,
                             "previous_page_uri": None, "start": 0, "uri": path})

        def do_DELETE(self) -> None:  # noqa: N802
            state.auth_seen.append(self.headers.get("Authorization", ""))
            prefix = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/"
            if not (self.path.startswith(prefix) and self.path.endswith(".json")):
                self._json(404, {"code": 20404, "message": "not found", "status": 404})
                return
            sid = self.path[len(prefix):-len(".json")]
            if sid not in state.recordings:
                self._json(404, {"code": 20404, "message": "The requested resource was not "
                                 "found", "status": 404})
                return
            state.recordings.discard(sid)
            state.deleted.append(sid)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            state.auth_seen.append(self.headers.get("Authorization", ""))
            if not self.path.endswith(f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"):
                self._json(404, {"code": 20404, "message": "not found", "status": 404})
                return
            if state.mode == "slow":
                time.sleep(1.5)
            if state.mode == "21610":
                self._json(400, {"code": 21610, "message": "Attempt to send to unsubscribed "
                                 "recipient", "more_info": "https://www.twilio.com/docs/errors/"
                                 "21610", "status": 400})
                return
            if state.mode == "400":
                self._json(400, {"code": 21211, "message": "The 'To' number is not a valid "
                                 "phone number.", "status": 400})
                return
            if state.mode == "500":
                self._json(500, {"code": 20500, "message": "Internal Server Error",
                                 "status": 500})
                return
            state.counter += 1
            state.created.append(form)
            sid = f"SM{state.counter:032x}"
            resource = {"sid": sid, "account_sid": ACCOUNT, "to": form.get("To"),
                        "from": form.get("From") or (
                            "+12025550199" if form.get("MessagingServiceSid") else None),
                        "body": form.get("Body"),
                        "messaging_service_sid": form.get("MessagingServiceSid"),
                        "status": "queued", "num_segments": "1", "direction":
                        "outbound-api", "api_version": "2010-04-01", "price": None,
                        "error_code": None, "error_message": None,
                        "date_created": formatdate(usegmt=True), "date_sent": None,
                        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"}
            state.messages.append(resource)
            self._json(201, resource)

    return Handler


@pytest.fixture
def standin() -> Iterator[StandIn]:
    state = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def twilio_hub(app: Any, hub: Hub, standin: StandIn) -> Iterator[Hub]:
    """The test hub with Twilio credentials, the REST stand-in and the real SMS sender; also
    the jobs' hub."""
    original, senders = hub.settings, dict(hub.services["senders"])
    hub.settings = original.with_overrides(
        twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, twilio_from_number=FROM_NUMBER,
        twilio_api_base_url=standin.url, sms_rate_per_second=100)
    hub.services["senders"] = {**senders, "sms": TwilioSmsSender(hub.settings, hub.db,
                                                                 lambda: hub.redis)}
    set_hub(hub)
    try:
        yield hub
    finally:
        hub.settings = original
        hub.services["senders"] = senders
        set_hub(None)


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post(client: FlaskClient, path: str, params: dict[str, str], *, token: str = TOKEN,
         query: str = "", headers: dict[str, str] | None = None) -> Any:
    target = path + (f"?{query}" if query else "")
    signature = sign(BASE + target, params, token)
    return client.post(target, data=params,
                       headers={"X-Twilio-Signature": signature, **(headers or {})})


def sms_params(sid: str, body: str, sender: str = "+821023456789",
               **extra: str) -> dict[str, str]:
    params = fixture("twilio_sms_inbound.json")
    for key in list(params):
        if key.startswith(("Media", "NumMedia")):
            del params[key]
    params.update({"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "Body": body,
                   "From": sender, "NumMedia": "0", **extra})
    return params


def drain(hub: Hub) -> None:
    run_worker(hub, burst=True)


def deliveries(hub: Hub, consultation_id: int) -> list[Delivery]:
    with hub.db.begin() as session:
        return list(session.scalars(select(Delivery).where(
            Delivery.consultation_id == consultation_id).order_by(Delivery.id)))


def consultation_of(hub: Hub, sid: str) -> int:
    with hub.db.begin() as session:
        message = session.scalars(select(Message).where(Message.provider_id == sid)).one()
        return message.consultation_id


def ledger(hub: Hub, person_id: int) -> list[tuple[str, str | None, str, str]]:
    with hub.db.begin() as session:
        return [(e.purpose, e.channel, e.action, e.method) for e in session.scalars(
            select(ConsentEvent).where(ConsentEvent.person_id == person_id)
            .order_by(ConsentEvent.id))]


def count(hub: Hub, model: Any) -> int:
    with hub.db.begin() as session:
        return len(list(session.scalars(select(model))))


# -- signatures -------------------------------------------------------------------------------


def test_fixture_payload_with_its_vector_signature_is_accepted(twilio_hub, client, standin):
    """The recorded inbound MMS signed as in signature_vectors.json (sms_inbound) is accepted
    and answered with empty TwiML."""
    vectors = json.loads((FIXTURES / "signature_vectors.json").read_text())["twilio"]
    case = next(c for c in vectors["cases"] if c["name"] == "sms_inbound")
    params = fixture("twilio_sms_inbound.json")
    response = client.post("/webhooks/twilio/sms", data=params,
                           headers={"X-Twilio-Signature": case["expected_signature"]})
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True).endswith("<Response />")
    assert consultation_of(twilio_hub, params["MessageSid"])


@pytest.mark.parametrize("headers", [
    {},
    {"X-Twilio-Signature": "Wo+JDY/z71H4SXCjLOeJ2SA6Grg="},  # valid for other params
    {"X-Twilio-Signature": "not-a-signature"},
])
def test_missing_or_wrong_signature_is_403_and_stores_nothing(twilio_hub, client, headers):
    before = (count(twilio_hub, Message), count(twilio_hub, Consultation))
    response = client.post("/webhooks/twilio/sms", data=sms_params("SMbad1", "hi"),
                           headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    assert (count(twilio_hub, Message), count(twilio_hub, Consultation)) == before


def test_wrong_token_signature_is_refused(twilio_hub, client):
    response = post(client, "/webhooks/twilio/sms", sms_params("SMbad2", "hi"),
                    token="fixture0auth0token0not0real00002")
    assert response.status_code == 403


def test_signature_over_the_http_url_is_refused(twilio_hub, client):
    """Behind a TLS proxy the app sees http://; Twilio signed our public https:// URL."""
    params = sms_params("SMbad3", "hi")
    signature = sign("http://intake.example.com/webhooks/twilio/sms", params)
    response = client.post("/webhooks/twilio/sms", data=params,
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_query_string_is_part_of_the_signed_url(twilio_hub, client):
    response = post(client, "/webhooks/twilio/sms", sms_params("SMq1", "문의드립니다"),
                    query="clinic=gangnam")
    assert response.status_code == 200


def test_hmac_sha256_signing_mode_is_refused_not_waved_through(twilio_hub, client):
    """X-Twilio-Webhooks-Signature-Settings announces the SharedKey HMAC-SHA256 mode; without
    its key the request cannot be verified: 403, nothing stored."""
    params = sms_params("SMsha256", "hi")
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/webhooks/twilio/sms",
                                                          params, "HMAC_SHA256")
    response = client.post("/webhooks/twilio/sms", data=params, headers={
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_x,algorithm=HMAC_SHA256"})
    assert response.status_code == 403
    assert count(twilio_hub, Message) == 0


def test_hmac_sha256_signing_mode_is_verified_once_a_shared_key_is_set(twilio_hub, client):
    """With TWILIO_WEBHOOK_SHARED_KEY set, a request signed in the HMAC-SHA256 mode with that key
    is accepted and stored; one signed with another key is refused."""
    key = "fixture0shared0key0not0real000001"
    original = twilio_hub.settings
    twilio_hub.settings = original.with_overrides(twilio_webhook_shared_key=key)
    settings_header = "key=webhooks_sharedkey_x,algorithm=HMAC_SHA256"
    try:
        for sid, signer, expected in (("SMsha1", key + "x", 403), ("SMsha2", key, 200)):
            params = sms_params(sid, "hi")
            signature = RequestValidator(signer).compute_signature(
                BASE + "/webhooks/twilio/sms", params, "HMAC_SHA256")
            response = client.post("/webhooks/twilio/sms", data=params, headers={
                "X-Twilio-Signature": signature,
                "X-Twilio-Webhooks-Signature-Settings": settings_header})
            assert response.status_code == expected
    finally:
        twilio_hub.settings = original
    assert count(twilio_hub, Message) == 1
    assert consultation_of(twilio_hub, "SMsha2")


def test_without_an_auth_token_every_webhook_is_refused(app, hub, client):
    response = client.post("/webhooks/twilio/sms", data=sms_params("SMnotoken", "hi"),
                           headers={"X-Twilio-Signature": sign(BASE + "/webhooks/twilio/sms",
                                                               sms_params("SMnotoken", "hi"))})
    assert response.status_code == 403


# -- inbound SMS / MMS ------------------------------------------------------------------------


def test_inbound_sms_opens_a_consultation_with_the_phone_contact(twilio_hub, client):
    response = post(client, "/webhooks/twilio/sms", sms_params("SMin1", "쌍꺼풀 상담 원해요"))
    assert response.status_code == 200
    with twilio_hub.db.begin() as session:
        message = session.scalars(select(Message).where(Message.provider_id == "SMin1")).one()
        assert (message.channel, message.direction, message.body) == \
            ("sms", "in", "쌍꺼풀 상담 원해요")
        assert message.contact_point.kind == "phone"
        assert message.contact_point.value == "+821023456789"


def test_replayed_message_sid_is_stored_once(twilio_hub, client):
    params = sms_params("SMreplay", "안녕하세요")
    assert post(client, "/webhooks/twilio/sms", params).status_code == 200
    assert post(client, "/webhooks/twilio/sms", params).status_code == 200
    with twilio_hub.db.begin() as session:
        assert len(list(session.scalars(select(Message).where(
            Message.provider_id == "SMreplay")))) == 1
    assert len(deliveries(twilio_hub, consultation_of(twilio_hub, "SMreplay"))) == 1


def test_a_second_text_threads_into_the_open_consultation(twilio_hub, client):
    post(client, "/webhooks/twilio/sms", sms_params("SMt1", "first"))
    post(client, "/webhooks/twilio/sms", sms_params("SMt2", "second"))
    assert consultation_of(twilio_hub, "SMt1") == consultation_of(twilio_hub, "SMt2")


def test_mms_photo_is_fetched_by_the_worker_and_flags_r8(twilio_hub, client, standin):
    """R8: a photo is health data; with no sensitive-health consent the consultation gets
    needs_health_consent. The worker fetches the media with the account credentials and
    stores it; its content type is committed with the webhook already."""
    standin.media["ME1"] = (JPEG, "image/jpeg")
    params = sms_params("SMmms1", "사진 보냅니다", NumMedia="1",
                        MediaUrl0=standin.media_url("ME1"), MediaContentType0="image/jpeg")
    assert post(client, "/webhooks/twilio/sms", params).status_code == 200
    with twilio_hub.db.begin() as session:
        message = session.scalars(select(Message).where(Message.provider_id == "SMmms1")).one()
        attachment = session.scalars(select(Attachment).where(
            Attachment.message_id == message.id)).one()
        assert (attachment.content_type, attachment.storage_key) == ("image/jpeg", None)
        assert attachment.source_url == standin.media_url("ME1")
        assert session.get_one(Consultation, message.consultation_id).needs_health_consent
        attachment_id = attachment.id
    drain(twilio_hub)
    with twilio_hub.db.begin() as session:
        attachment = session.get_one(Attachment, attachment_id)
        assert attachment.storage_key and attachment.size == len(JPEG)
    assert twilio_hub.store.get(attachment.storage_key) == JPEG
    assert any(auth.startswith("Basic ") for auth in standin.auth_seen)


def test_mms_of_a_refused_type_or_size_is_not_stored(twilio_hub, client, standin):
    standin.media["ME2"] = (b"MZ" * 10, "application/x-msdownload")
    standin.media["ME3"] = (b"\xff" * (twilio_hub.settings.media_max_bytes + 1), "image/png")
    params = sms_params("SMmms2", "files", NumMedia="2",
                        MediaUrl0=standin.media_url("ME2"), MediaContentType0="image/jpeg",
                        MediaUrl1=standin.media_url("ME3"), MediaContentType1="image/png")
    assert post(client, "/webhooks/twilio/sms", params).status_code == 200
    drain(twilio_hub)
    with twilio_hub.db.begin() as session:
        message = session.scalars(select(Message).where(Message.provider_id == "SMmms2")).one()
        keys = [a.storage_key for a in session.scalars(select(Attachment).where(
            Attachment.message_id == message.id))]
        assert keys == [None, None]
        assert "attachment_refused" in message.redactions


def test_bad_input_is_a_clear_4xx(twilio_hub, client):
    params = sms_params("SMbadnum", "hi")
    params["NumMedia"] = "x"
    assert post(client, "/webhooks/twilio/sms", params).status_code == 400
    params = sms_params("", "hi")
    assert post(client, "/webhooks/twilio/sms", params).status_code == 400
    assert count(twilio_hub, Message) == 0


# -- opt-out / opt-in -------------------------------------------------------------------------


def _reply(hub: Hub, consultation_id: int, body: str = "상담 답변입니다") -> int:
    with hub.db.begin() as session:
        consultation = session.get_one(Consultation, consultation_id)
        return schedule_delivery(session, channel="sms", purpose="reply",
                                 recipient="+821023456789", body=body,
                                 person_id=consultation.person_id,
                                 consultation_id=consultation_id)


@pytest.mark.parametrize("word", ["STOP", "수신거부", "stop", "수신 거부", "중지"])
def test_r42_stop_then_a_queued_reply_never_goes_out(twilio_hub, client, standin, word):
    """R42: a reply queued before the STOP (or 수신거부) is suppressed at send time with the
    reason; the only SMS that goes is the R47 result notice, once."""
    post(client, "/webhooks/twilio/sms", sms_params("SMfirst", "상담 문의"))
    consultation_id = consultation_of(twilio_hub, "SMfirst")
    drain(twilio_hub)  # the acknowledgement goes
    assert len(standin.created) == 1
    reply_id = _reply(twilio_hub, consultation_id)
    assert post(client, "/webhooks/twilio/sms", sms_params("SMstop", word)).status_code == 200
    drain(twilio_hub)

    with twilio_hub.db.begin() as session:
        reply = session.get_one(Delivery, reply_id)
        assert reply.status == "suppressed"
        assert "opted out" in reply.reason
    bodies = [m["Body"] for m in standin.created[1:]]
    assert len(bodies) == 1 and "수신거부" in bodies[0]  # R47 notice only
    with twilio_hub.db.begin() as session:
        person_id = session.get_one(Consultation, consultation_id).person_id
    events = ledger(twilio_hub, person_id)
    assert ("reply", "sms", "opt_out", "sms_keyword") in events
    assert ("marketing", "sms", "opt_out", "sms_keyword") in events
    assert ("marketing_night", "sms", "opt_out", "sms_keyword") in events
    with twilio_hub.db.begin() as session:
        event = session.scalars(select(ConsentEvent).where(
            ConsentEvent.person_id == person_id, ConsentEvent.action == "opt_out")).first()
        assert event is not None and event.evidence["message_sid"] == "SMstop"


def test_r47_notice_goes_once_even_when_stop_is_sent_twice(twilio_hub, client, standin):
    post(client, "/webhooks/twilio/sms", sms_params("SMa", "STOP", OptOutType="STOP"))
    post(client, "/webhooks/twilio/sms", sms_params("SMb", "STOP", OptOutType="STOP"))
    drain(twilio_hub)
    notices = [m for m in standin.created if "수신거부" in m["Body"]]
    assert len(notices) == 1
    # the acknowledgement of the consultation the first STOP opened was suppressed (R42)
    statuses = {d.purpose: d.status for d in deliveries(twilio_hub,
                                                          consultation_of(twilio_hub, "SMa"))}
    assert statuses == {"acknowledgement": "suppressed", "notice": "sent"}


def test_advanced_opt_out_type_is_honoured_whatever_the_text(twilio_hub, client, standin):
    post(client, "/webhooks/twilio/sms", sms_params("SMo", "그만 보내세요", OptOutType="STOP"))
    with twilio_hub.db.begin() as session:
        person_id = session.get_one(Consultation, consultation_of(twilio_hub, "SMo")).person_id
    assert ("reply", "sms", "opt_out", "sms_keyword") in ledger(twilio_hub, person_id)


def test_start_restores_replies_but_not_marketing(twilio_hub, client, standin):
    post(client, "/webhooks/twilio/sms", sms_params("SMs1", "STOP"))
    post(client, "/webhooks/twilio/sms", sms_params("SMs2", "START"))
    consultation_id = consultation_of(twilio_hub, "SMs1")
    with twilio_hub.db.begin() as session:
        person_id = session.get_one(Consultation, consultation_id).person_id
        states = {(s.purpose, s.channel): s.action for s in session.scalars(
            select(ConsentState).where(ConsentState.person_id == person_id))}
    assert states[("reply", "sms")] == "opt_in"
    assert states[("marketing", "sms")] == "opt_out"
    assert states[("marketing_night", "sms")] == "opt_out"
    reply_id = _reply(twilio_hub, consultation_id, "다시 답변드립니다")
    drain(twilio_hub)
    with twilio_hub.db.begin() as session:
        assert session.get_one(Delivery, reply_id).status == "sent"
    assert "다시 답변드립니다" in [m["Body"] for m in standin.created]


def test_help_answers_with_the_clinic_contact(twilio_hub, client, standin):
    post(client, "/webhooks/twilio/sms", sms_params("SMh", "도움말"))
    drain(twilio_hub)
    assert any(twilio_hub.clinic.phone in m["Body"] for m in standin.created)


# -- outbound sender --------------------------------------------------------------------------


def test_reply_goes_through_the_sdk_with_a_status_callback(twilio_hub, client, standin):
    post(client, "/webhooks/twilio/sms", sms_params("SMo1", "문의"))
    drain(twilio_hub)
    sent = standin.created[0]
    assert sent["To"] == "+821023456789"
    assert sent["From"] == FROM_NUMBER
    assert sent["StatusCallback"] == BASE + "/webhooks/twilio/status"
    delivery = deliveries(twilio_hub, consultation_of(twilio_hub, "SMo1"))[0]
    assert delivery.status == "sent" and delivery.provider_id == "SM" + "0" * 31 + "1"


def test_messaging_service_is_used_when_configured(twilio_hub, standin):
    settings = twilio_hub.settings.with_overrides(
        twilio_messaging_service_sid="MG8a1f3e5c7b9d0f2a4c6e8b0d2f4a6c8e")
    sender = TwilioSmsSender(settings, twilio_hub.db, lambda: twilio_hub.redis)
    from channels.base import Outgoing
    sender.send(Outgoing(delivery_id=1, channel="sms", recipient="+821023456789", body="x"))
    assert standin.created[0]["MessagingServiceSid"] == "MG8a1f3e5c7b9d0f2a4c6e8b0d2f4a6c8e"
    assert "From" not in standin.created[0]


def test_error_21610_records_a_carrier_opt_out_and_fails(twilio_hub, client, standin):
    """Twilio answers 21610 (the number opted out at Twilio): the delivery fails with the
    reason and the ledger gets opt_out (method carrier), so nothing else is tried (R42)."""
    standin.mode = "21610"
    post(client, "/webhooks/twilio/sms", sms_params("SM216", "문의"))
    drain(twilio_hub)
    consultation_id = consultation_of(twilio_hub, "SM216")
    delivery = deliveries(twilio_hub, consultation_id)[0]
    assert delivery.status == "failed" and "21610" in delivery.reason
    assert ("reply", "sms", "opt_out", "carrier") in ledger(twilio_hub, delivery.person_id)
    standin.mode = "ok"
    reply_id = _reply(twilio_hub, consultation_id)
    drain(twilio_hub)
    with twilio_hub.db.begin() as session:
        assert session.get_one(Delivery, reply_id).status == "suppressed"
    assert standin.created == []


def test_permanent_4xx_fails_with_the_reason(twilio_hub, client, standin):
    standin.mode = "400"
    post(client, "/webhooks/twilio/sms", sms_params("SM400", "문의"))
    drain(twilio_hub)
    delivery = deliveries(twilio_hub, consultation_of(twilio_hub, "SM400"))[0]
    assert delivery.status == "failed" and "21211" in delivery.reason


def test_5xx_is_transient_and_the_delivery_waits_for_a_retry(twilio_hub, client, standin):
    standin.mode = "500"
    post(client, "/webhooks/twilio/sms", sms_params("SM500", "문의"))
    drain(twilio_hub)
    delivery = deliveries(twilio_hub, consultation_of(twilio_hub, "SM500"))[0]
    assert delivery.status == "queued" and "500" in delivery.reason


def test_read_timeout_is_an_unknown_outcome(twilio_hub, standin):
    from channels.base import Outgoing
    standin.mode = "slow"
    sender = TwilioSmsSender(twilio_hub.settings, twilio_hub.db, lambda: twilio_hub.redis)
    sender.client.http_client.timeout = 0.3
    with pytest.raises(UnknownOutcomeError):
        sender.send(Outgoing(delivery_id=1, channel="sms", recipient="+821023456789", body="x"))


def test_connection_refused_is_transient(twilio_hub):
    from channels.base import Outgoing
    settings = twilio_hub.settings.with_overrides(twilio_api_base_url="http://127.0.0.1:9")
    sender = TwilioSmsSender(settings, twilio_hub.db, lambda: twilio_hub.redis)
    with pytest.raises(TransientSendError):
        sender.send(Outgoing(delivery_id=1, channel="sms", recipient="+821023456789", body="x"))


def test_rate_limit_is_shared_by_two_workers_through_redis(twilio_hub, standin):
    """Two sender instances (two workers) with SMS_RATE_PER_SECOND=1 and one Redis: within one
    second only one message goes; the other is transient (RQ retries it later)."""
    from channels.base import Outgoing
    settings = twilio_hub.settings.with_overrides(sms_rate_per_second=1)
    first = TwilioSmsSender(settings, twilio_hub.db, lambda: twilio_hub.redis)
    second = TwilioSmsSender(settings, twilio_hub.db, lambda: twilio_hub.redis)
    message = Outgoing(delivery_id=1, channel="sms", recipient="+821023456789", body="x")
    for _ in range(5):
        twilio_hub.redis.flushdb()
        standin.created.clear()
        start = int(time.time())
        first.send(message)
        try:
            second.send(message)
            outcome = "sent"
        except TransientSendError as exc:
            outcome = str(exc)
        if int(time.time()) == start:
            break
    assert "rate limit" in outcome
    assert len(standin.created) == 1


def test_rate_limiter_window_per_sender(redis):
    a, b = RateLimiter(lambda: redis, 2), RateLimiter(lambda: redis, 2)
    assert [a.acquire("s1", 100.0), b.acquire("s1", 100.5), a.acquire("s1", 100.9)] == \
        [True, True, False]
    assert b.acquire("s1", 101.0) and a.acquire("s2", 100.0)


# -- status callbacks -------------------------------------------------------------------------


def _sent_delivery(hub: Hub, client: FlaskClient, sid: str) -> Delivery:
    post(client, "/webhooks/twilio/sms", sms_params(sid, "문의"))
    drain(hub)
    return deliveries(hub, consultation_of(hub, sid))[0]


def status_params(sid: str, status: str, error: str | None = None) -> dict[str, str]:
    params = fixture("twilio_status_callback.json")
    params.update({"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                   "SmsStatus": status})
    if error:
        params["ErrorCode"] = error
    else:
        params.pop("ErrorCode", None)
    return params


def test_status_callbacks_out_of_order_never_move_backwards(twilio_hub, client, standin):
    delivery = _sent_delivery(twilio_hub, client, "SMst1")
    sid = delivery.provider_id
    assert post(client, "/webhooks/twilio/status", status_params(sid, "delivered")) \
        .status_code == 204
    assert post(client, "/webhooks/twilio/status", status_params(sid, "sent")).status_code == 204
    assert post(client, "/webhooks/twilio/status", status_params(sid, "delivered")) \
        .status_code == 204
    with twilio_hub.db.begin() as session:
        delivery = session.get_one(Delivery, delivery.id)
        assert delivery.status == "delivered"
        assert [e.status for e in delivery.history] == ["queued", "sending", "sent", "delivered"]


def test_undelivered_with_error_code_fails_with_the_reason(twilio_hub, client, standin):
    delivery = _sent_delivery(twilio_hub, client, "SMst2")
    post(client, "/webhooks/twilio/status",
         status_params(delivery.provider_id, "undelivered", "30003"))
    with twilio_hub.db.begin() as session:
        delivery = session.get_one(Delivery, delivery.id)
        assert delivery.status == "failed"
        assert "30003" in delivery.reason and "unreachable" in delivery.reason


def test_status_callback_before_the_sid_is_stored_is_kept_and_applied(twilio_hub, client,
                                                                      standin):
    """The callback for the sid Twilio is about to return arrives first: it is kept, and
    applied when the worker records the sid (never dropped)."""
    next_sid = "SM" + "0" * 31 + "1"
    assert post(client, "/webhooks/twilio/status", status_params(next_sid, "delivered")) \
        .status_code == 204
    assert post(client, "/webhooks/twilio/status", status_params(next_sid, "delivered")) \
        .status_code == 204
    assert count(twilio_hub, PendingProviderStatus) == 1
    delivery = _sent_delivery(twilio_hub, client, "SMst3")
    assert delivery.provider_id == next_sid
    assert delivery.status == "delivered"
    assert count(twilio_hub, PendingProviderStatus) == 0


def test_status_callback_needs_a_signature(twilio_hub, client):
    response = client.post("/webhooks/twilio/status", data=status_params("SMx", "delivered"))
    assert response.status_code == 403
    assert count(twilio_hub, PendingProviderStatus) == 0


def test_failed_callback_with_21610_records_a_carrier_opt_out(twilio_hub, client, standin):
    """A Messaging Service reports the opt-out in the status callback (failed, 21610)."""
    delivery = _sent_delivery(twilio_hub, client, "SMst4")
    post(client, "/webhooks/twilio/status",
         status_params(delivery.provider_id, "failed", "21610"))
    with twilio_hub.db.begin() as session:
        assert session.get_one(Delivery, delivery.id).status == "failed"
    assert ("reply", "sms", "opt_out", "carrier") in ledger(twilio_hub, delivery.person_id)


def test_sweep_applies_a_callback_kept_while_the_sid_was_being_recorded(twilio_hub, client,
                                                                        standin):
    """The race of two commits (callback kept, sid recorded without seeing it) is closed by
    the periodic sweep."""
    from workers.twilio_jobs import sweep_pending_statuses

    delivery = _sent_delivery(twilio_hub, client, "SMst5")
    with twilio_hub.db.begin() as session:
        session.add(PendingProviderStatus(provider_id=delivery.provider_id, status="delivered"))
    assert sweep_pending_statuses() == 1
    with twilio_hub.db.begin() as session:
        assert session.get_one(Delivery, delivery.id).status == "delivered"
    assert count(twilio_hub, PendingProviderStatus) == 0


# -- reconciliation of sends whose outcome is unknown (issue 3 item 5) -------------------------


def _unknown_delivery(hub: Hub, client: FlaskClient, sid: str, body: str,
                      minutes_ago: int) -> int:
    """A reply left `sending` with the unknown-outcome reason, attempted `minutes_ago`."""
    from workers.jobs import UNKNOWN_OUTCOME

    delivery = _sent_delivery(hub, client, sid)
    with hub.db.begin() as session:
        consultation = session.get_one(Consultation, delivery.consultation_id)
        reply = session.get_one(Delivery, schedule_delivery(
            session, channel="sms", purpose="reply", recipient=delivery.recipient, body=body,
            person_id=consultation.person_id, consultation_id=consultation.id))
        reply.status, reply.reason = "sending", UNKNOWN_OUTCOME
        reply.updated_at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        session.flush()
        return reply.id


def _delivery(hub: Hub, delivery_id: int) -> Delivery:
    with hub.db.begin() as session:
        return session.get_one(Delivery, delivery_id)


def test_timed_out_send_is_reconciled_from_twilios_message_list(twilio_hub, client, standin):
    """A read timeout leaves the delivery `sending` (never re-sent); the periodic job finds
    the one message to that number from our number with our body in Twilio's Messages list,
    records its sid (a callback kept meanwhile then applies) and never sends again."""
    from workers.jobs import UNKNOWN_OUTCOME
    from workers.twilio_jobs import reconcile_unknown

    standin.mode = "slow"
    twilio_hub.services["senders"]["sms"].client.http_client.timeout = 0.3
    post(client, "/webhooks/twilio/sms", sms_params("SMrc1", "문의"))
    drain(twilio_hub)
    delivery = deliveries(twilio_hub, consultation_of(twilio_hub, "SMrc1"))[0]
    assert (delivery.status, delivery.reason, delivery.provider_id) == \
        ("sending", UNKNOWN_OUTCOME, None)
    deadline = time.monotonic() + 5
    while not standin.messages and time.monotonic() < deadline:
        time.sleep(0.05)  # the stand-in took the message after our timeout
    sid = standin.messages[0]["sid"]
    post(client, "/webhooks/twilio/status", status_params(sid, "delivered"))
    assert count(twilio_hub, PendingProviderStatus) == 1

    assert reconcile_unknown()["waiting"] == 0  # too early: not even looked up
    assert standin.listed == []
    outcome = reconcile_unknown(now=datetime.now(UTC) + timedelta(minutes=4))
    assert outcome["found"] == 1
    assert standin.listed[0]["To"] == delivery.recipient
    assert standin.listed[0]["From"] == FROM_NUMBER
    delivery = _delivery(twilio_hub, delivery.id)
    assert (delivery.status, delivery.provider_id) == ("delivered", sid)
    assert count(twilio_hub, PendingProviderStatus) == 0
    assert len(standin.created) == 1  # never re-sent
    with twilio_hub.db.begin() as session:
        assert session.scalars(select(Message).where(Message.provider_id == sid)).one()


def test_unknown_send_not_at_twilio_fails_only_after_the_grace_period(twilio_hub, client,
                                                                      standin):
    """Nothing at Twilio: the delivery waits out the grace period, then fails "not sent
    (reconciled)" for a counsellor to retry; nothing is re-sent. The earlier message with the
    same body already belongs to another delivery and is not taken for this one."""
    from workers.twilio_jobs import reconcile_unknown

    delivery_id = _unknown_delivery(twilio_hub, client, "SMrc2", "문의", minutes_ago=10)
    standin.messages[0]["body"] = "문의"  # the acknowledgement, re-labelled: same body
    with twilio_hub.db.begin() as session:
        session.get_one(Delivery, delivery_id).body = standin.messages[0]["body"]
    sent_before = len(standin.created)
    assert reconcile_unknown()["waiting"] == 1
    assert _delivery(twilio_hub, delivery_id).status == "sending"
    assert reconcile_unknown(now=datetime.now(UTC) + timedelta(minutes=25))["not_sent"] == 1
    delivery = _delivery(twilio_hub, delivery_id)
    assert (delivery.status, delivery.reason, delivery.provider_id) == \
        ("failed", "not sent (reconciled)", None)
    assert len(standin.created) == sent_before
    assert reconcile_unknown(now=datetime.now(UTC) + timedelta(hours=1)) == \
        {"found": 0, "not_sent": 0, "waiting": 0, "ambiguous": 0, "unavailable": 0}


def test_two_matching_messages_are_left_for_a_counsellor(twilio_hub, client, standin):
    from workers.twilio_jobs import AMBIGUOUS, reconcile_unknown

    delivery_id = _unknown_delivery(twilio_hub, client, "SMrc3", "내일 뵙겠습니다",
                                    minutes_ago=10)
    recipient = _delivery(twilio_hub, delivery_id).recipient
    for n in (1, 2):
        standin.messages.append({
            "sid": f"SM{'f' * 31}{n}", "account_sid": ACCOUNT, "to": recipient,
            "from": FROM_NUMBER, "body": "내일 뵙겠습니다", "status": "sent",
            "direction": "outbound-api", "messaging_service_sid": None, "error_code": None,
            "date_created": formatdate(usegmt=True), "date_sent": formatdate(usegmt=True)})
    assert reconcile_unknown()["ambiguous"] == 1
    delivery = _delivery(twilio_hub, delivery_id)
    assert (delivery.status, delivery.reason, delivery.provider_id) == \
        ("sending", AMBIGUOUS, None)
    assert reconcile_unknown(now=datetime.now(UTC) + timedelta(hours=1))["ambiguous"] == 0


def test_twilio_unreachable_during_reconciliation_changes_nothing(twilio_hub, client, standin):
    from workers.twilio_jobs import reconcile_unknown

    delivery_id = _unknown_delivery(twilio_hub, client, "SMrc4", "안내", minutes_ago=60)
    twilio_hub.settings = twilio_hub.settings.with_overrides(
        twilio_api_base_url="http://127.0.0.1:9")
    assert reconcile_unknown()["unavailable"] == 1
    assert _delivery(twilio_hub, delivery_id).status == "sending"


def test_messaging_service_send_is_reconciled_on_the_service(twilio_hub, client, standin):
    """Sent through a Messaging Service, the message leaves from any number of its pool: the
    list asks for the recipient only and keeps messages of our service."""
    from workers.twilio_jobs import reconcile_unknown

    delivery_id = _unknown_delivery(twilio_hub, client, "SMrc5", "예약 안내", minutes_ago=10)
    recipient = _delivery(twilio_hub, delivery_id).recipient
    service = "MG" + "b" * 32
    twilio_hub.settings = twilio_hub.settings.with_overrides(twilio_messaging_service_sid=service)
    for n, owner in ((1, "MG" + "c" * 32), (2, service)):
        standin.messages.append({
            "sid": f"SM{'e' * 31}{n}", "account_sid": ACCOUNT, "to": recipient,
            "from": "+12025550199", "body": "예약 안내", "status": "delivered",
            "direction": "outbound-api", "messaging_service_sid": owner, "error_code": None,
            "date_created": formatdate(usegmt=True), "date_sent": formatdate(usegmt=True)})
    assert reconcile_unknown()["found"] == 1
    assert "From" not in standin.listed[-1]
    delivery = _delivery(twilio_hub, delivery_id)
    assert (delivery.status, delivery.provider_id) == ("delivered", f"SM{'e' * 31}2")


@pytest.mark.parametrize(("field", "value"), [
    ("MessageSid", "SM" + "a" * 300), ("MessageSid", "SM\x00123"),
    ("MediaUrl0", "not a url"), ("MediaUrl0", "https://api.twilio.com/" + "m" * 1000),
    ("MediaContentType0", "image/jpeg\x00"), ("MediaContentType0", "x" * 200)])
def test_signed_but_malformed_fields_are_400_and_store_nothing(twilio_hub, client, field,
                                                               value):
    """Even a correctly signed request gets a clear 400 for an id or media field no database
    column can hold (found by fuzzing: each was a 500)."""
    params = sms_params("SM" + "1" * 32, "사진 보내요")
    if field.startswith("Media"):
        params.update({"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/m/ME1",
                       "MediaContentType0": "image/jpeg"})
    if field == "MessageSid":
        params.update({"SmsMessageSid": value, "SmsSid": value})
    params[field] = value
    response = post(client, "/webhooks/twilio/sms", params)
    assert response.status_code == 400, response.data
    with twilio_hub.db.begin() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0
