"""SMS segment counting (GSM-7 vs UCS-2), as shown before a Korean SMS is sent."""

from __future__ import annotations

from intake.sms import sms_length


def test_plain_ascii_is_gsm7_single_segment_up_to_160():
    assert sms_length("a" * 160).segments == 1
    assert sms_length("a" * 160).encoding == "GSM-7"
    assert sms_length("a" * 161).segments == 2  # 153 per part
    assert sms_length("a" * 306).segments == 2
    assert sms_length("a" * 307).segments == 3


def test_extension_characters_take_two_septets():
    assert sms_length("€" * 80).units == 160
    assert sms_length("€" * 80).segments == 1
    assert sms_length("€" * 81).segments == 2


def test_korean_is_ucs2_70_single_67_per_part():
    assert sms_length("가" * 70).segments == 1
    length = sms_length("가" * 71)
    assert (length.encoding, length.units, length.segments, length.per_segment) == \
        ("UCS-2", 71, 2, 67)
    assert sms_length("가" * 134).segments == 2
    assert sms_length("가" * 135).segments == 3


def test_one_korean_character_makes_the_whole_text_ucs2():
    assert sms_length("Hello 안녕").encoding == "UCS-2"


def test_characters_outside_the_bmp_take_two_units():
    assert sms_length("😀").units == 2
    assert sms_length("😀" * 35).segments == 1
    assert sms_length("😀" * 36).segments == 2


def test_empty_text_has_no_segment():
    assert sms_length("").segments == 0
