"""Unit tests for intake.redaction: R9 (RRN masking), R24 (card masking), R8 (health screen)
and the log masking filter."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from intake.redaction import (
    HEALTH_KEYWORDS,
    MaskingFilter,
    install_log_masking,
    luhn_valid,
    mask_identifiers,
    mask_log_text,
    mentions_health,
)

THIRTEEN_DIGITS = re.compile(r"\d{13}")

# -- R9: resident registration numbers --------------------------------------------------------


def test_r9_rrn_with_hyphen_masked() -> None:
    masked, kinds = mask_identifiers("제 주민번호는 950101-1234567 입니다")
    assert "950101-*******" in masked
    assert "1234567" not in masked
    assert not THIRTEEN_DIGITS.search(re.sub(r"\D", "", masked))
    assert masked == "제 주민번호는 950101-******* 입니다"
    assert kinds == ["rrn"]


def test_r9_rrn_without_separator_masked() -> None:
    masked, kinds = mask_identifiers("주민번호 9501011234567")
    assert masked == "주민번호 950101-*******"
    assert kinds == ["rrn"]


def test_r9_rrn_with_space_masked() -> None:
    masked, kinds = mask_identifiers("rrn 950101 2234567.")
    assert masked == "rrn 950101-*******."
    assert kinds == ["rrn"]


def test_r9_rrn_inside_longer_digit_run_untouched() -> None:
    for text in ("19501011234567", "95010112345679", "9501019234567", "x950101-12345678"):
        masked, kinds = mask_identifiers(text)
        assert "rrn" not in kinds
        assert "*******" not in masked


# -- R24: card numbers ------------------------------------------------------------------------


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("")


def test_r24_card_with_spaces_masked() -> None:
    masked, kinds = mask_identifiers("카드 4111 1111 1111 1111 로 결제")
    assert masked == "카드 ****-****-****-1111 로 결제"
    assert kinds == ["card"]


def test_r24_card_with_hyphens_and_contiguous_masked() -> None:
    assert mask_identifiers("5500-0000-0000-0004")[0] == "****-****-****-0004"
    assert mask_identifiers("card:378282246310005.")[0] == "card:****-****-****-0005."


def test_r24_bad_luhn_untouched() -> None:
    text = "4111-1111-1111-1112"
    assert mask_identifiers(text) == (text, [])


def test_r9_r24_both_reported_once() -> None:
    masked, kinds = mask_identifiers(
        "950101-1234567, 4111 1111 1111 1111, 9001012345678, 5500000000000004"
    )
    assert kinds == ["rrn", "card"]
    assert masked == ("950101-*******, ****-****-****-1111, 900101-*******, "
                      "****-****-****-0004")


@pytest.mark.parametrize(
    "text",
    ["010-1234-5678", "+821012345678", "01012345678", "+82 10-1234-5678", "02-3456-7890",
     "2026-11-25 10:00", "주문번호 12345678"],
)
def test_r9_r24_ordinary_phone_numbers_and_dates_untouched(text: str) -> None:
    assert mask_identifiers(text) == (text, [])


# -- R8: health keywords ----------------------------------------------------------------------


def test_health_keywords_cover_korean_and_english() -> None:
    for kw in ("수술", "코", "보톡스", "부작용", "임신", "surgery", "botox", "pregnant"):
        assert kw in HEALTH_KEYWORDS


@pytest.mark.parametrize(
    "text",
    ["코 재수술 상담 받고 싶어요", "보톡스 가격 문의", "수술 후 통증이 있어요",
     "임신 중인데 괜찮나요?",
     "I am considering RHINOPLASTY", "Pain after the procedure", "I take medication daily",
     "two scars on my chin", "breast implants", "Is Botox safe when pregnant?"],
)
def test_r8_mentions_health(text: str) -> None:
    assert mentions_health(text)


@pytest.mark.parametrize(
    "text",
    [None, "", "상담 예약하고 싶어요", "예약 시간 변경 가능할까요?", "주차 가능한가요?",
     "약속 시간에 늦을 것 같아요",
     "What are your opening hours?", "Painting the waiting room", "scary movie",
     "spain trip next week"],
)
def test_r8_no_health_mention(text: str | None) -> None:
    assert not mentions_health(text)


# -- log masking ------------------------------------------------------------------------------


def test_mask_log_text() -> None:
    line = ("from hong.gildong@example.com tel 010-1234-5678 / +821098765432 / "
            "+1 212-736-5000 / fax 02-3456-7890 rrn 950101-1234567 card 4111111111111111")
    masked = mask_log_text(line)
    assert masked == (
        "from h***********@example.com tel 010-****-5678 / 010-****-5432 / "
        "+1 ***-***-5000 / fax 02-****-7890 rrn 950101-******* card ****-****-****-1111"
    )
    assert mask_log_text(masked) == masked  # idempotent


@pytest.fixture()
def masked_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tests.unit.redaction")
    logger.setLevel(logging.DEBUG)
    install_log_masking(logger)
    yield logger
    logger.filters.clear()


def test_log_line_reaches_handler_masked(
    masked_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=masked_logger.name):
        masked_logger.info("new lead %s %s rrn=%s", "hong@example.com", "010-1234-5678",
                           "950101-1234567")
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.getMessage() == "new lead h***@example.com 010-****-5678 rrn=950101-*******"
    assert record.args is None
    assert "hong@example.com" not in caplog.text
    assert "1234-5678" not in caplog.text
    assert "1234567" not in caplog.text


def test_log_extra_attributes_masked(
    masked_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=masked_logger.name):
        masked_logger.info(
            "sent",
            extra={"phone": "+821012345678", "email": "Hong@Example.com",
                   "body": "제 번호 950101-1234567, 메일 a.b@example.com",
                   "recipient": "+12127365000", "channel": "sms"},
        )
    record = caplog.records[0]
    assert record.phone == "010-****-5678"
    assert record.email == "H***@Example.com"
    assert record.name == masked_logger.name  # the logger name is never masked
    assert record.body == "제 번호 950101-*******, 메일 a**@example.com"
    assert record.recipient == "+1 ***-***-5000"
    assert record.channel == "sms"


def test_log_exception_text_masked(
    masked_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=masked_logger.name):
        try:
            raise ValueError("bad contact hong@example.com")
        except ValueError:
            masked_logger.exception("failed for %s", "010-1234-5678")
    assert "hong@example.com" not in caplog.text
    assert "h***@example.com" in caplog.text
    assert "010-****-5678" in caplog.text


def test_install_on_root_covers_handlers_idempotently(caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    handler = caplog.handler
    try:
        install_log_masking()
        install_log_masking()
        assert sum(isinstance(f, MaskingFilter) for f in root.filters) == 1
        assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1
        with caplog.at_level(logging.INFO):
            # A child logger: root's own filters do not apply, the handler's filter does.
            logging.getLogger("tests.unit.other").warning("call me on +821012345678")
        assert "+821012345678" not in caplog.text
        assert "010-****-5678" in caplog.text
    finally:
        for filterer in (root, handler):
            for f in [f for f in filterer.filters if isinstance(f, MaskingFilter)]:
                filterer.removeFilter(f)


def test_filter_always_returns_true_even_on_bad_format() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "oops %d %s", ("nope",), None)
    assert MaskingFilter().filter(record) is True
    assert record.args is None
