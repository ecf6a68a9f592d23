"""Pieces of the Kakao consultation conversation that need no services."""

from __future__ import annotations

import pytest

from channels.kakao.flow import FlowState, interest_code, state_key
from config import Settings
from intake.clinic import Clinic


@pytest.fixture(scope="module")
def clinic() -> Clinic:
    return Clinic.from_settings(Settings())


@pytest.mark.parametrize(("text", "code"), [
    ("눈", "eyes"), ("쌍꺼풀", "eyes"), ("코", "nose"), ("윤곽", "contouring"),
    ("가슴", "breast"), ("리프팅", "lifting"), ("기타", "other"), ("skin", "skin"),
])
def test_interest_words_map_to_clinic_codes(clinic, text, code):
    assert interest_code(text, clinic) == code


def test_unknown_interest_is_none(clinic):
    assert interest_code("잘 모르겠어요", clinic) is None


def test_state_round_trip_and_garbage():
    state = FlowState(flow_id="f1", stage="phone", name="김민지")
    assert FlowState.load(state.dump()) == state
    assert FlowState.load(b"not json") is None
    assert FlowState.load(None) is None


def test_state_key_does_not_contain_the_user_key():
    assert "Xq7Rk2LmP9sT" not in state_key("Xq7Rk2LmP9sT")
