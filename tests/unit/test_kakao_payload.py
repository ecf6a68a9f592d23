"""Reading the Open Builder skill payload and building the skill response."""

from __future__ import annotations

import json

import pytest

from channels.kakao.skill_payload import BadSkillRequest, SkillRequest, skill_response
from tests.conftest import FIXTURES


def fixture() -> dict:
    return json.loads((FIXTURES / "kakao_skill_request.json").read_text(encoding="utf-8"))


def test_parse_the_documented_example():
    request = SkillRequest.parse(fixture())
    assert request.bot_id == "6531be77c4f0d21a9b8e5f13"
    assert request.user_key == "Xq7Rk2LmP9sT"  # plusfriendUserKey preferred
    assert request.bot_user_key.startswith("a3f91c27")
    assert request.params == {"procedure": "쌍꺼풀", "preferred_day": "토요일"}
    assert request.utterance.startswith("쌍꺼풀")


def test_fingerprint_is_stable_and_covers_the_utterance_and_params():
    a, b = SkillRequest.parse(fixture()), SkillRequest.parse(fixture())
    assert a.fingerprint() == b.fingerprint()
    changed = fixture()
    changed["userRequest"]["utterance"] = "다른 말"
    assert SkillRequest.parse(changed).fingerprint() != a.fingerprint()
    changed = fixture()
    changed["action"]["params"]["preferred_day"] = "일요일"
    changed["action"]["detailParams"]["preferred_day"]["value"] = "일요일"
    assert SkillRequest.parse(changed).fingerprint() != a.fingerprint()


@pytest.mark.parametrize("body", [None, [], {"userRequest": {}}, {"userRequest": {"user": {}}}])
def test_unreadable_requests(body):
    with pytest.raises(BadSkillRequest):
        SkillRequest.parse(body)


def test_skill_response_matches_the_documented_shape():
    example = json.loads((FIXTURES / "kakao_skill_response_example.json")
                         .read_text(encoding="utf-8"))
    built = skill_response([example["template"]["outputs"][0]["simpleText"]["text"]],
                           ["예약 시간 변경", "상담원 연결"])
    assert built == example
