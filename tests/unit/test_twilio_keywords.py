"""Opt-out, opt-in and help keywords, English and Korean, and Twilio's OptOutType (R42)."""

from __future__ import annotations

import pytest

from intake.services.optout import Keyword, keyword_of


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "CANCEL",
                                  "END", "QUIT", "수신거부", "수신 거부", "거부", "중지", "STOP!"])
def test_opt_out_words(text):
    assert keyword_of(text) is Keyword.OPT_OUT


@pytest.mark.parametrize("text", ["START", "yes", "UNSTOP"])
def test_opt_in_words(text):
    assert keyword_of(text) is Keyword.OPT_IN


@pytest.mark.parametrize("text", ["HELP", "도움말"])
def test_help_words(text):
    assert keyword_of(text) is Keyword.HELP


@pytest.mark.parametrize("text", ["stop sending me ads please", "수신거부 말고 상담요", "", None,
                                  "코 성형 상담"])
def test_ordinary_messages_are_not_keywords(text):
    assert keyword_of(text) is None


def test_opt_out_type_wins_over_the_text():
    assert keyword_of("그만", "STOP") is Keyword.OPT_OUT
    assert keyword_of("다시", "START") is Keyword.OPT_IN
    assert keyword_of("?", "HELP") is Keyword.HELP
