"""The pending-write marker of the Kakao skill as JSON: what is kept in Redis before the bounded
write must rebuild the very same inquiry for the recovery job."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from channels.kakao.flow import pending_key
from channels.kakao.pending import (
    KEY_PREFIX,
    PendingWrite,
    inquiry_from_json,
    inquiry_to_json,
    pending_id,
)
from intake.inquiry import (
    ConsentChoice,
    ContactValue,
    Guardian,
    InboundAttachment,
    Inquiry,
    Profile,
)
from intake.vocab import Channel, ConsentAction, ConsentMethod, ConsentPurpose


def full_inquiry(**changes: object) -> Inquiry:
    values: dict[str, object] = dict(
        channel=Channel.KAKAO, provider_id="kakao:flow:abc",
        received_at=datetime(2026, 11, 25, 7, 30, tzinfo=UTC),
        contacts=(ContactValue("kakao", "Xq7Rk2LmP9sT"), ContactValue("phone", "010-2345-6789",
                                                                     verified=True)),
        name="김민지", subject="상담", body="카카오톡 상담 신청: 쌍꺼풀",
        profile=Profile(sex="F", birth_date=date(1995, 3, 1), age=31, region="서울",
                        interests=("eyes",), preferred_hours="토요일", locale="ko"),
        reply_channel="kakao",
        consents=(ConsentChoice(ConsentPurpose.REPLY, ConsentAction.GRANT,
                                ConsentMethod.KAKAO_FLOW, channel="kakao",
                                evidence={"notice": "consent.collection", "flow_id": "abc"}),
                  ConsentChoice(ConsentPurpose.SENSITIVE_HEALTH, ConsentAction.REFUSE,
                                ConsentMethod.KAKAO_FLOW)),
        guardian=Guardian("김보호", "010-1111-2222"),
        attachments=(InboundAttachment("a.jpg", "image/jpeg", 10, "p1", "https://x/a"),),
        health_fields_asked=True, consent_method=ConsentMethod.KAKAO_FLOW,
        source_ip="203.0.113.9", thread_consultation_id=7,
        raw={"flow_id": "abc", "bot_user_key": "b" * 10})
    values.update(changes)
    return Inquiry(**values)  # type: ignore[arg-type]


def test_inquiry_round_trips_through_json():
    inquiry = full_inquiry()
    assert inquiry_from_json(inquiry_to_json(inquiry)) == inquiry


def test_pending_write_round_trips_and_knows_its_callback_window():
    pending = PendingWrite(inquiry=full_inquiry(guardian=None, attachments=()),
                           user_key="Xq7Rk2LmP9sT", started_at=100.0, texts=("접수되었습니다",),
                           quick_replies=("예",), callback_url="http://127.0.0.1/cb",
                           callback_until=155.0)
    assert PendingWrite.load(pending.dump()) == pending
    assert pending.callback_valid(154.0) and not pending.callback_valid(155.0)


def test_attachment_content_cannot_be_kept_pending():
    inquiry = full_inquiry(attachments=(InboundAttachment("a", "text/plain", content=b"x"),))
    with pytest.raises(ValueError):
        inquiry_to_json(inquiry)


def test_marker_key_is_shared_with_the_flow_and_hides_the_provider_id():
    key = pending_key("kakao:text:Xq7Rk2LmP9sT:1")
    assert key == KEY_PREFIX + pending_id("kakao:text:Xq7Rk2LmP9sT:1")
    assert "Xq7Rk2LmP9sT" not in key
