"""The homepage form (`GET`/`POST /consult`) against the real app, PostgreSQL and Redis: what the
page must show (R2, R3, R4, R6, R12), what a submission stores (R1, R8, R40) and the one-time
token. The page is read with the standard library's HTML parser, as a browser would."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from channels.web.form import TOKEN_SALT
from intake.hub import Hub
from intake.models import ConsentEvent, Consultation, Delivery, Message, Person

CONSENT_KEYS = ("consent.collection", "consent.sensitive_health", "consent.marketing",
                "consent.marketing_night", "consent.request_response")


class Page(HTMLParser):
    """Inputs (with the text of the label around them and the notice they sit in), the notices'
    parts, textareas, selected options and the style sheet."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.inputs: list[dict[str, Any]] = []
        self.notices: dict[str, dict[str, Any]] = {}
        self.textareas: dict[str, str] = {}
        self.selected: dict[str, str] = {}
        self.style = ""
        self.text: list[str] = []
        self._labels: list[tuple[list[dict[str, Any]], list[str]]] = []
        self._notice: str | None = None
        self._part: str | None = None
        self._textarea: str | None = None
        self._select: str | None = None
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "label":
            self._labels.append(([], []))
        elif tag == "input":
            item: dict[str, Any] = {**attr, "_notice": self._notice, "_label": ""}
            self.inputs.append(item)
            for inputs, _text in self._labels:
                inputs.append(item)
        elif tag == "section" and attr.get("data-notice"):
            self._notice = attr["data-notice"]
            self.notices[self._notice] = {"version": attr.get("data-version"), "parts": {},
                                          "important": set()}
        elif tag == "dd" and attr.get("data-part"):
            self._part = attr["data-part"]
            assert self._notice is not None
            self.notices[self._notice]["parts"][self._part] = ""
        elif tag == "strong" and "important" in (attr.get("class") or "") and self._part:
            assert self._notice is not None
            self.notices[self._notice]["important"].add(self._part)
        elif tag == "textarea":
            self._textarea = attr.get("name") or ""
            self.textareas[self._textarea] = ""
        elif tag == "select":
            self._select = attr.get("name")
        elif tag == "option" and "selected" in attr and self._select:
            self.selected[self._select] = attr.get("value") or ""
        elif tag == "style":
            self._in_style = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._labels:
            inputs, text = self._labels.pop()
            for item in inputs:
                item["_label"] = " ".join("".join(text).split())
        elif tag == "section":
            self._notice = None
        elif tag == "dd":
            self._part = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for _inputs, text in self._labels:
            text.append(data)
        if self._part and self._notice:
            self.notices[self._notice]["parts"][self._part] += data
        if self._textarea is not None:
            self.textareas[self._textarea] += data
        if self._in_style:
            self.style += data

    # -- queries --

    def field(self, name: str) -> dict[str, Any]:
        [item] = [i for i in self.inputs if i.get("name") == name]
        return item

    def checkboxes(self) -> list[dict[str, Any]]:
        return [i for i in self.inputs if i.get("type") == "checkbox"]

    def consent_boxes(self) -> list[dict[str, Any]]:
        return [i for i in self.checkboxes() if i.get("data-consent")]

    def ticked(self) -> set[tuple[str, str]]:
        return {(i["name"], i.get("value") or "") for i in self.inputs
                if i.get("type") in ("checkbox", "radio") and "checked" in i}

    @property
    def all_text(self) -> str:
        return " ".join("".join(self.text).split())


def get_page(client: FlaskClient, url: str = "/consult", **headers: str) -> Page:
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    return Page(response.get_data(as_text=True))


def token(client: FlaskClient) -> str:
    value = get_page(client).field("form_token")["value"]
    assert isinstance(value, str) and value
    return value


def submit(client: FlaskClient, fields: dict[str, Any],
           form_token: str | None = None) -> TestResponse:
    data = {"form_token": token(client) if form_token is None else form_token, **fields}
    return client.post("/consult", data=data)


REQUIRED_ONLY: dict[str, Any] = {"name": "김민수", "phone": "010-1234-5678",
                                 "consent_collection": "yes"}


def counts(hub: Hub) -> tuple[int, int, int]:
    with hub.db.begin() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Person, Consultation, Message))


def reference(response: TestResponse) -> int:
    match = re.search(r'data-testid="reference">(\d+)<', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return int(match.group(1))


def load_consultation(hub: Hub, consultation_id: int) -> tuple[Consultation, Message,
                                                               list[ConsentEvent],
                                                               list[Delivery]]:
    with hub.db.begin() as session:
        consultation = session.get(Consultation, consultation_id)
        assert consultation is not None
        [message] = session.scalars(select(Message).where(
            Message.consultation_id == consultation_id)).all()
        events = list(session.scalars(select(ConsentEvent).where(
            ConsentEvent.person_id == consultation.person_id).order_by(ConsentEvent.id)))
        sent = list(session.scalars(select(Delivery).where(
            Delivery.consultation_id == consultation_id)))
        return consultation, message, events, sent


# -- the page ---------------------------------------------------------------------------------

def test_the_form_shows_the_clinic_and_every_field(client: FlaskClient, hub: Hub) -> None:
    page = get_page(client)
    assert hub.clinic.display_name("ko") in page.all_text
    names = {i.get("name") for i in page.inputs}
    assert {"name", "phone", "email", "birth_date", "age", "region", "interests",
            "preferred_hours", "reply_channel", "guardian_name", "guardian_phone",
            "consent_collection", "consent_sensitive_health", "marketing", "marketing_night",
            "form_token", "locale"} <= names
    assert "message" in page.textareas
    assert {i["value"] for i in page.inputs if i.get("name") == "interests"} == set(
        hub.clinic.interests)
    labels = {i["value"]: i["_label"] for i in page.inputs if i.get("name") == "interests"}
    assert labels["eyes"] == "눈" and labels["contouring"] == "윤곽"
    assert {i["value"] for i in page.inputs if i.get("name") == "reply_channel"} == {
        "sms", "email", "phone"}
    assert "보호자" in page.all_text  # the under-14 note (R12)


def test_r4_every_consent_checkbox_is_unticked_on_first_load(client: FlaskClient) -> None:
    """R4: separate boxes, none ticked; optional ones say (선택), the required one (필수)."""
    page = get_page(client)
    assert page.checkboxes() and all("checked" not in box for box in page.checkboxes())
    assert page.ticked() == set()
    boxes = page.consent_boxes()
    by_name: dict[str, list[str]] = {}
    for box in boxes:
        by_name.setdefault(box["name"], []).append(box.get("value") or "")
    assert by_name["consent_collection"] == ["yes"]
    assert by_name["consent_sensitive_health"] == ["yes"]
    assert sorted(by_name["marketing"]) == ["email", "kakao", "sms", "voice"]
    assert sorted(by_name["marketing_night"]) == ["kakao", "sms", "voice"]
    for box in boxes:
        if box["name"] == "consent_collection":
            assert "(필수)" in box["_label"] and "(선택)" not in box["_label"]
        else:
            assert "(선택)" in box["_label"], box
    # each sits with its own notice
    assert {box["_notice"] for box in boxes} == set(CONSENT_KEYS) - {"consent.request_response"}


def test_r4_optional_labels_in_english(client: FlaskClient) -> None:
    page = get_page(client, "/consult?lang=en")
    for box in page.consent_boxes():
        expected = "(required)" if box["name"] == "consent_collection" else "(optional)"
        assert expected in box["_label"]
    assert all("checked" not in box for box in page.checkboxes())


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_r2_each_consent_notice_shows_its_four_parts(client: FlaskClient, hub: Hub,
                                                     locale: str) -> None:
    """R2: purpose, items, retention and the right to refuse with its consequence, exactly the
    versioned text a consent records."""
    page = get_page(client, f"/consult?lang={locale}")
    for key in CONSENT_KEYS:
        notice = hub.clinic.notices.consent(key, locale)
        shown = page.notices[key]
        assert shown["version"] == notice.version
        for part in ("purpose", "items", "retention", "refusal"):
            assert " ".join(shown["parts"][part].split()) == getattr(notice, part)
            assert shown["parts"][part].strip()
        assert notice.title in page.all_text


def test_r3_important_parts_are_conspicuous(client: FlaskClient) -> None:
    """R3: retention, sensitive information and the marketing contact are bold, coloured and at
    least 1.2 times the base font size."""
    page = get_page(client)
    for key in CONSENT_KEYS:
        assert "retention" in page.notices[key]["important"]
    assert {"purpose", "items"} <= page.notices["consent.sensitive_health"]["important"]
    assert "purpose" in page.notices["consent.marketing"]["important"]
    assert "purpose" in page.notices["consent.marketing_night"]["important"]
    rule = re.search(r"\.important\s*\{([^}]*)\}", page.style)
    body = re.search(r"\bbody\s*\{([^}]*)\}", page.style)
    assert rule and body
    size = re.search(r"font-size:\s*([\d.]+)rem", rule.group(1))
    base = re.search(r"font-size:\s*([\d.]+)rem", body.group(1))
    assert size and base and float(size.group(1)) >= 1.2 * float(base.group(1))
    assert re.search(r"font-weight:\s*(700|bold)", rule.group(1))
    assert re.search(r"\bcolor:\s*#", rule.group(1))


def test_r6_items_processed_without_consent_are_shown_separately(client: FlaskClient) -> None:
    page = get_page(client)
    assert "consent.request_response" in page.notices
    assert not [i for i in page.inputs if i["_notice"] == "consent.request_response"]
    assert "동의 없이 처리하는 항목" in page.all_text


def test_english_with_lang_or_accept_language(client: FlaskClient, hub: Hub) -> None:
    for page in (get_page(client, "/consult?lang=en"),
                 get_page(client, "/consult", **{"Accept-Language": "en-US,en;q=0.9"})):
        assert hub.clinic.display_name("en") in page.all_text
        assert "Consultation request" in page.all_text
        assert page.field("locale")["value"] == "en"
        labels = {i["value"]: i["_label"] for i in page.inputs if i.get("name") == "interests"}
        assert labels["eyes"] == "Eyes"
    korean = get_page(client, "/consult?lang=ko", **{"Accept-Language": "en"})
    assert korean.field("locale")["value"] == "ko"
    assert get_page(client, "/consult", **{"Accept-Language": "fr"}).field(
        "locale")["value"] == "ko"


def test_the_form_is_never_cached(client: FlaskClient) -> None:
    """Each page carries its own one-time token: a shared cache would hand one to many."""
    response = client.get("/consult")
    assert response.headers["Cache-Control"] == "no-store"
    assert token(client) != token(client)


# -- submitting -------------------------------------------------------------------------------

def test_r1_required_items_only_is_accepted_and_acknowledged(client: FlaskClient,
                                                             hub: Hub) -> None:
    """R1: the required collection consent alone → 200, a consultation, an acknowledgement."""
    response = submit(client, REQUIRED_ONLY)
    assert response.status_code == 200
    ref = reference(response)
    assert "상담 신청이 접수되었습니다" in response.get_data(as_text=True)
    consultation, message, events, sent = load_consultation(hub, ref)
    assert consultation.status == "new" and message.channel == "web"
    assert message.provider_id is not None and message.provider_id.startswith("form:")
    assert [(d.purpose, d.channel, d.recipient) for d in sent] == [
        ("acknowledgement", "sms", "+821012345678")]
    notice = hub.clinic.notices.consent("consent.collection", "ko")
    reply = [e for e in events if e.purpose == "reply"]
    assert {e.channel for e in reply} == {"sms", "voice"}
    for event in reply:
        assert event.method == "web_form" and event.action == "grant"
        assert event.evidence["notice"] == "consent.collection"
        assert event.evidence["notice_version"] == notice.version
        assert event.evidence["notice_sha256"] == notice.sha256
        assert event.evidence["form"] == "consult"
    assert {e.purpose for e in events} == {"reply"}  # nothing unticked is recorded


def test_reply_consent_follows_the_contacts_given(client: FlaskClient, hub: Hub) -> None:
    response = submit(client, {"name": "Jane", "email": "jane@example.com",
                               "reply_channel": "email", "consent_collection": "yes",
                               "locale": "en"})
    assert response.status_code == 200
    assert "We have received your consultation request" in response.get_data(as_text=True)
    _consultation, _message, events, sent = load_consultation(hub, reference(response))
    assert {(e.purpose, e.channel) for e in events} == {("reply", "email")}
    assert [(d.channel, d.recipient) for d in sent] == [("email", "jane@example.com")]
    assert events[0].evidence["locale"] == "en"


def test_r8_r40_ticked_consents_are_recorded_with_their_notices(client: FlaskClient,
                                                                hub: Hub) -> None:
    response = client.post("/consult", data={
        **REQUIRED_ONLY, "form_token": token(client), "email": "kim@example.com",
        "interests": ["eyes", "nose"], "message": "쌍꺼풀 재수술 상담", "preferred_hours": "저녁",
        "consent_sensitive_health": "yes", "marketing": ["sms", "kakao"],
        "marketing_night": ["sms"], "reply_channel": "phone"})
    assert response.status_code == 200
    consultation, message, events, _sent = load_consultation(hub, reference(response))
    assert message.body == "쌍꺼풀 재수술 상담"
    assert consultation.interests == ["eyes", "nose"]
    assert consultation.preferred_hours == "저녁" and consultation.reply_channel == "phone"
    notices = hub.clinic.notices
    expected = {("sensitive_health", None): "consent.sensitive_health",
                ("marketing", "sms"): "consent.marketing",
                ("marketing", "kakao"): "consent.marketing",
                ("marketing_night", "sms"): "consent.marketing_night"}
    recorded = {(e.purpose, e.channel): e for e in events if e.purpose != "reply"}
    assert set(recorded) == set(expected)
    for key, notice_key in expected.items():
        evidence = recorded[key].evidence
        assert evidence["notice_version"] == notices.consent(notice_key, "ko").version
        assert evidence["notice_sha256"] == notices.consent(notice_key, "ko").sha256
        assert evidence["form"] == "consult" and recorded[key].method == "web_form"


def test_r8_without_sensitive_consent_the_form_keeps_no_health_fields(client: FlaskClient,
                                                                      hub: Hub) -> None:
    response = submit(client, {**REQUIRED_ONLY, "interests": "nose", "message": "코 성형 문의"})
    assert response.status_code == 200
    consultation, message, _events, _sent = load_consultation(hub, reference(response))
    assert message.body is None and consultation.interests == []


def test_form_token_replay_returns_the_same_consultation(client: FlaskClient, hub: Hub) -> None:
    form_token = token(client)
    first = submit(client, REQUIRED_ONLY, form_token)
    before = counts(hub)
    again = submit(client, REQUIRED_ONLY, form_token)
    assert first.status_code == again.status_code == 200
    assert reference(first) == reference(again)
    assert counts(hub) == before  # one message
    other = submit(client, REQUIRED_ONLY)  # a new page: a new message in the same thread
    assert reference(other) == reference(first)
    assert counts(hub)[2] == before[2] + 1


def _expired_token(app: Flask) -> str:
    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 25 * 3600

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=TOKEN_SALT,
                                        signer=Yesterday)
    return serializer.dumps("AAAAAAAAAAAAAAAAAAAAAA")


@pytest.mark.parametrize("kind", ["missing", "forged", "expired", "other_salt"])
def test_a_bad_or_expired_token_asks_to_reload(client: FlaskClient, app: Flask, hub: Hub,
                                               kind: str) -> None:
    form_token = {
        "missing": "",
        "forged": token(client)[:-2] + "xx",
        "expired": _expired_token(app),
        "other_salt": URLSafeTimedSerializer(app.config["SECRET_KEY"]).dumps("A" * 22),
    }[kind]
    before = counts(hub)
    response = submit(client, REQUIRED_ONLY, form_token)
    assert response.status_code == 400
    assert "새로 고친" in response.get_data(as_text=True)
    assert counts(hub) == before


def test_the_collection_consent_is_required(client: FlaskClient, hub: Hub) -> None:
    before = counts(hub)
    fields = {k: v for k, v in REQUIRED_ONLY.items() if k != "consent_collection"}
    response = submit(client, fields)
    assert response.status_code == 422
    page = Page(response.get_data(as_text=True))
    assert "개인정보 수집·이용 동의(필수)가 필요합니다" in page.all_text
    assert page.field("consent_collection").get("aria-invalid") == "true"
    assert counts(hub) == before


def test_rerender_keeps_values_and_never_ticks_a_consent(client: FlaskClient,
                                                         hub: Hub) -> None:
    """R4 on the second load too: only what the person ticked comes back ticked."""
    form_token = token(client)
    before = counts(hub)
    response = client.post("/consult", data={
        "form_token": form_token, "phone": "010-1234-5678", "email": "kim@example.com",
        "region": "서울", "interests": ["eyes"], "preferred_hours": "오후",
        "message": "문의합니다 950101-1234567", "reply_channel": "sms", "sex": "female",
        "age": "30", "marketing": ["sms"]})
    assert response.status_code == 422
    assert counts(hub) == before
    page = Page(response.get_data(as_text=True))
    assert page.field("form_token")["value"] == form_token
    assert page.field("phone")["value"] == "010-1234-5678"
    assert page.field("email")["value"] == "kim@example.com"
    assert page.field("region")["value"] == "서울"
    assert page.field("age")["value"] == "30"
    assert page.field("name")["value"] == "" and page.field("name").get("aria-invalid")
    assert page.textareas["message"] == "문의합니다 950101-*******"  # R9 even on the way back
    assert page.selected["sex"] == "female"
    assert page.ticked() == {("interests", "eyes"), ("reply_channel", "sms"),
                             ("marketing", "sms")}
    assert "성함을 1~100자로 입력해 주세요." in page.all_text
    assert "개인정보 수집·이용 동의(필수)가 필요합니다" in page.all_text


def test_rerender_without_consents_ticks_none(client: FlaskClient) -> None:
    response = submit(client, {"name": "김민수", "phone": "12"})
    assert response.status_code == 422
    page = Page(response.get_data(as_text=True))
    assert all("checked" not in box for box in page.consent_boxes())
    assert page.field("name")["value"] == "김민수"


@pytest.mark.parametrize(("fields", "slot"), [
    ({"phone": "", "email": ""}, "phone"),
    ({"email": "bad@", "phone": ""}, "email"),
    ({"age": "500"}, "age"),
    ({"age": "twelve"}, "age"),
    ({"birth_date": "1800-01-01"}, "birth_date"),
    ({"interests": "teeth"}, "interests"),
    ({"reply_channel": "email"}, "reply_channel"),
    ({"marketing_night": "sms"}, "marketing_night"),
    ({"marketing": "email"}, "marketing"),
])
def test_invalid_fields_rerender_with_a_message_and_store_nothing(
        client: FlaskClient, hub: Hub, fields: dict[str, str], slot: str) -> None:
    before = counts(hub)
    response = submit(client, {**REQUIRED_ONLY, **fields})
    assert response.status_code == 422
    assert f'id="{slot}-error"' in response.get_data(as_text=True)
    assert counts(hub) == before


def test_r12_a_child_via_the_form_waits_for_the_guardian(client: FlaskClient, hub: Hub) -> None:
    response = submit(client, {**REQUIRED_ONLY, "age": "12", "guardian_name": "김보호",
                               "guardian_phone": "010-7777-8888"})
    assert response.status_code == 200
    assert 'data-testid="guardian-note"' in response.get_data(as_text=True)
    consultation, _message, events, sent = load_consultation(hub, reference(response))
    assert consultation.status == "pending_guardian"
    assert events == []
    assert [(d.purpose, d.recipient) for d in sent] == [("notice", "+821077778888")]


def test_r12_a_child_without_a_guardian_is_asked_for_one(client: FlaskClient, hub: Hub) -> None:
    before = counts(hub)
    response = submit(client, {**REQUIRED_ONLY, "birth_date": "2020-01-01"})
    assert response.status_code == 422
    assert "만 14세 미만은 보호자의 성함과 휴대폰 번호가 필요합니다." in Page(
        response.get_data(as_text=True)).all_text
    assert counts(hub) == before


def test_the_form_shares_the_rate_limit(client: FlaskClient, hub: Hub,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "settings", hub.settings.with_overrides(intake_rate_limit=(2, 60)))
    form_token = token(client)
    assert submit(client, REQUIRED_ONLY, form_token).status_code == 200
    assert client.post("/api/v1/inquiries", json={"name": "x"}).status_code == 422
    response = submit(client, REQUIRED_ONLY, form_token)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert client.get("/consult").status_code == 200  # reading the form is never limited
