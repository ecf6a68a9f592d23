"""AlimTalk templates: informational only, and the R49 advertising lint (R56)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.kakao.alimtalk import (
    Template,
    TemplateRefused,
    TemplateRegistry,
    advertising_words,
    check_template,
    national_number,
)


@pytest.mark.parametrize("text", [
    "[#{clinic}] 이번 달 쌍꺼풀 할인 안내",
    "#{name}님, 특가 이벤트가 시작되었습니다",
    "시술 전후 사진과 후기를 확인하세요",
    "첫 상담 무료, 1+1 쿠폰 증정",
    "최대 30% 가격 인하",
    "Special discount EVENT for you",
    "See our before/after gallery",
])
def test_r56_advertising_template_is_refused(text):
    """R56 via R49: a template whose text reads as advertising is no AlimTalk template."""
    with pytest.raises(TemplateRefused, match="R56"):
        check_template(Template(code="AD_1", text=text))


def test_r56_advertising_class_is_refused_even_with_clean_text():
    with pytest.raises(TemplateRefused, match="informational"):
        check_template(Template(code="BRAND", text="[#{clinic}] 안내", klass="advertising"))


def test_registry_refuses_an_advertising_template_file(tmp_path: Path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"code": "OK", "text": "[#{clinic}] 예약 안내"},
                                {"code": "PROMO", "text": "[#{clinic}] 이벤트 할인"}],
                               ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TemplateRefused, match="PROMO"):
        TemplateRegistry.load(path)


def test_shipped_templates_are_informational():
    registry = TemplateRegistry.load()
    assert {"INTAKE_ACK", "INTAKE_REPLY", "BOOKING_CONFIRM"} <= set(registry.codes())


def test_template_variables_and_render():
    template = Template(code="BOOKING_CONFIRM",
                        text="#{name}님 예약이 #{datetime}에 확정되었습니다. #{name}")
    assert template.variables == ("name", "datetime")
    assert template.render({"name": "김민지", "datetime": "11월 28일(토) 10:00"}) == \
        "김민지님 예약이 11월 28일(토) 10:00에 확정되었습니다. 김민지"


def test_informational_text_passes_the_lint():
    assert advertising_words("[서울미소의원] 김민지님, 상담 신청이 접수되었습니다.") == []


def test_national_number():
    assert national_number("+821023456789") == "01023456789"
