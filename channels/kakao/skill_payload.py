"""The Open Builder skill request and response, as plain typed values.

`SkillRequest.parse` reads what the skill webhook needs from Kakao's SkillPayload (see
"응답 타입별 JSON 포맷"); `skill_response` builds a version 2.0 SkillResponse with `simpleText`
outputs and `message` quick replies. Used by `channels.kakao.skill` and `channels.kakao.flow`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Kakao's simpleText holds at most 1000 characters; a quick-reply label at most 14.
SIMPLE_TEXT_MAX = 1000
LABEL_MAX = 14
QUICK_REPLIES_MAX = 10


class BadSkillRequest(ValueError):
    """The body is not a skill request the hub can read."""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class SkillRequest:
    bot_id: str
    user_key: str  # the contact value: plusfriendUserKey when present, else the botUserKey
    bot_user_key: str
    block_id: str
    utterance: str
    params: Mapping[str, str] = field(default_factory=dict)
    callback_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: Any) -> SkillRequest:
        if not isinstance(body, Mapping):
            raise BadSkillRequest("the body must be a JSON object")
        user_request = body.get("userRequest")
        if not isinstance(user_request, Mapping):
            raise BadSkillRequest("userRequest is missing")
        user = user_request.get("user")
        if not isinstance(user, Mapping):
            raise BadSkillRequest("userRequest.user is missing")
        properties = user.get("properties") if isinstance(user.get("properties"), Mapping) \
            else {}
        bot_user_key = _str(properties.get("botUserKey")) or _str(user.get("id"))
        # plusfriendUserKey is the channel's key for the person: it stays the same across the
        # channel's bots, so it is the better contact point; the bot's key is the fallback.
        user_key = _str(properties.get("plusfriendUserKey")) or bot_user_key
        if not user_key.strip():
            raise BadSkillRequest("userRequest.user.id is missing")
        bot = body.get("bot") if isinstance(body.get("bot"), Mapping) else {}
        block = user_request.get("block") if isinstance(user_request.get("block"), Mapping) \
            else {}
        return cls(bot_id=_str(bot.get("id")), user_key=user_key.strip(),
                   bot_user_key=bot_user_key.strip(), block_id=_str(block.get("id")),
                   utterance=_str(user_request.get("utterance")).strip(),
                   params=_params(body.get("action")),
                   callback_url=_str(user_request.get("callbackUrl")) or None, raw=body)

    def fingerprint(self) -> str:
        """What makes two requests the same (design: bot, user, block, utterance, parameters)."""
        canonical = json.dumps([self.bot_id, self.bot_user_key, self.user_key, self.block_id,
                                self.utterance, sorted(self.params.items())],
                               ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _params(action: Any) -> dict[str, str]:
    """`action.params`, completed from `detailParams[*].value` (Open Builder fills both)."""
    if not isinstance(action, Mapping):
        return {}
    out: dict[str, str] = {}
    detail = action.get("detailParams")
    if isinstance(detail, Mapping):
        for key, item in detail.items():
            if isinstance(item, Mapping) and isinstance(item.get("value"), str):
                out[str(key)] = item["value"]
    params = action.get("params")
    if isinstance(params, Mapping):
        for key, value in params.items():
            if isinstance(value, str):
                out[str(key)] = value
    return {k: v.strip() for k, v in out.items() if v.strip()}


def skill_response(texts: Sequence[str], quick_replies: Sequence[str] = ()) -> dict[str, Any]:
    """A SkillResponse 2.0: one `simpleText` per text, `message` quick replies."""
    template: dict[str, Any] = {
        "outputs": [{"simpleText": {"text": text[:SIMPLE_TEXT_MAX]}} for text in texts if text]}
    if quick_replies:
        template["quickReplies"] = [
            {"label": label[:LABEL_MAX], "action": "message", "messageText": label}
            for label in quick_replies[:QUICK_REPLIES_MAX]]
    return {"version": "2.0", "template": template}
