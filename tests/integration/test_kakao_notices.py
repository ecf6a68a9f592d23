"""The Kakao chatbot's sentences are the clinic's notice texts (`kakao.*`), not code: a clinic
overrides them with its own `NOTICES_DIR`, while the button labels it parses stay the same."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.clinic import Clinic
from intake.hub import Hub
from intake.notices import DEFAULTS
from tests.integration.test_kakao_skill import payload, post, replies, say, texts

ASK_NAME = "담당 코디네이터가 확인할 수 있도록 성함을 적어 주세요."


@pytest.fixture
def clinic_with_own_texts(kakao_hub: Hub, tmp_path: Path) -> Iterator[Hub]:
    """The hub of a clinic whose `NOTICES_DIR` holds a `ko.json` overriding two Kakao texts."""
    (tmp_path / "ko.json").write_text(json.dumps({
        "kakao.greeting": "{clinic} 카카오 상담 창구입니다.",
        "kakao.ask_name": ASK_NAME,
    }, ensure_ascii=False), encoding="utf-8")
    original = kakao_hub.clinic
    kakao_hub.clinic = Clinic.from_settings(
        kakao_hub.settings.with_overrides(notices_dir=str(tmp_path)))
    try:
        yield kakao_hub
    finally:
        kakao_hub.clinic = original


def test_a_clinic_overrides_kakao_prompts_through_its_notices(clinic_with_own_texts, client):
    name = clinic_with_own_texts.clinic.name
    greeting = post(client, payload()).get_json()
    assert texts(greeting).startswith(f"{name} 카카오 상담 창구입니다.")
    assert "상담 신청을 도와드릴게요" not in texts(greeting)
    assert replies(greeting) == ["동의", "동의 안 함"]  # protocol: the labels stay the code's
    asked = say(client, "동의")
    assert texts(asked) == ASK_NAME
    # Texts the clinic did not override are the shipped ones.
    assert "휴대폰 번호를 알려 주세요" in texts(say(client, "김민지"))


def test_every_kakao_text_exists_in_both_locales_with_the_same_placeholders():
    shipped = json.loads(DEFAULTS.read_text(encoding="utf-8"))

    def placeholders(text: str) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field}

    ko = {k: v for k, v in shipped["ko"].items() if k.startswith("kakao.")}
    en = {k: v for k, v in shipped["en"].items() if k.startswith("kakao.")}
    assert ko and set(ko) == set(en)
    for key in ko:
        assert placeholders(ko[key]) == placeholders(en[key]), key
