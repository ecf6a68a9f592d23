"""The send policy: may this message go to this person on this channel now? Pure, no I/O.

The worker asks it at send time with the person's current consent state (R42: a withdrawal
takes effect at once, so the decision is never taken at enqueue time). Informational messages
(acknowledgements, replies, confirmations, notices) rest on the request-response basis (R6) and
go at any hour; advertising needs per-channel marketing consent (R40), not withdrawn (R42), not
overdue for reconfirmation (R48), and at night a separate night consent except by email (R43);
KakaoTalk advertising never goes 20:50-08:00 (R58). A child's data waits for the guardian (R12).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from intake.vocab import INFORMATIONAL, ConsentAction, ConsentPurpose, DeliveryPurpose

NIGHT_START, NIGHT_END = time(21, 0), time(8, 0)
KAKAO_AD_BLOCK_START = time(20, 50)
CHANNEL_WORDS = {"sms": "SMS", "kakao": "KakaoTalk", "email": "email", "voice": "voice calls"}


@dataclass(frozen=True)
class StateEntry:
    action: str
    since: datetime
    reconfirm_due: datetime | None = None


# (purpose, channel or '') -> the latest decision
ConsentStates = Mapping[tuple[str, str], StateEntry]


class Verdict(StrEnum):
    SEND = "send"
    SUPPRESS = "suppress"
    HOLD = "hold"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    hold_until: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.SEND


def _granted(entry: StateEntry | None) -> bool:
    return entry is not None and entry.action in (ConsentAction.GRANT, ConsentAction.OPT_IN)


def _date(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).date().isoformat()


def reply_decision(states: ConsentStates, channel: str, has_contact: bool,
                   tz: ZoneInfo) -> Decision:
    """Informational messages on `channel` (R6): the person contacted us there or agreed to it,
    and never after an opt-out of everything on that channel (SMS STOP)."""
    word = CHANNEL_WORDS.get(channel, channel)
    if not has_contact:
        return Decision(Verdict.SUPPRESS, f"no {word} contact point")
    entry = states.get((ConsentPurpose.REPLY, channel))
    if entry is None:
        return Decision(Verdict.SUPPRESS, f"no consent for {word}")
    if entry.action == ConsentAction.OPT_OUT:
        return Decision(Verdict.SUPPRESS, f"{word} opted out on {_date(entry.since, tz)}")
    if entry.action in (ConsentAction.WITHDRAW, ConsentAction.REFUSE):
        verb = "withdrawn" if entry.action == ConsentAction.WITHDRAW else "refused"
        return Decision(Verdict.SUPPRESS, f"{word} replies {verb} on {_date(entry.since, tz)}")
    return Decision(Verdict.SEND, f"{word} allowed since {_date(entry.since, tz)}")


def _is_night(local: time) -> bool:
    return local >= NIGHT_START or local < NIGHT_END


def _next_morning(now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    day = local.date() if local.time() < NIGHT_END else local.date() + timedelta(days=1)
    return datetime.combine(day, NIGHT_END, tzinfo=tz)


def marketing_decision(states: ConsentStates, channel: str, has_contact: bool,
                       now: datetime, tz: ZoneInfo, night: bool | None = None) -> Decision:
    """Advertising on `channel` now (R40-R43, R48, R58)."""
    word = CHANNEL_WORDS.get(channel, channel)
    if not has_contact:
        return Decision(Verdict.SUPPRESS, f"no {word} contact point")
    reply = states.get((ConsentPurpose.REPLY, channel))
    if reply is not None and reply.action == ConsentAction.OPT_OUT:
        return Decision(Verdict.SUPPRESS, f"{word} opted out on {_date(reply.since, tz)}")
    entry = states.get((ConsentPurpose.MARKETING, channel))
    if not _granted(entry):
        if entry is not None and entry.action in (ConsentAction.WITHDRAW, ConsentAction.OPT_OUT):
            return Decision(Verdict.SUPPRESS, f"{word} marketing withdrawn on "
                            f"{_date(entry.since, tz)} (R42)")
        return Decision(Verdict.SUPPRESS, f"no marketing consent for {word} (R40)")
    assert entry is not None
    if entry.reconfirm_due is not None and now > entry.reconfirm_due:
        return Decision(Verdict.SUPPRESS, f"{word} marketing consent overdue for its two-yearly "
                        "reconfirmation (R48)")
    local = now.astimezone(tz).time()
    if channel == "kakao" and (local >= KAKAO_AD_BLOCK_START or local < NIGHT_END):
        return Decision(Verdict.HOLD, "KakaoTalk advertising is blocked 20:50-08:00 (R58)",
                        _next_morning(now, tz))
    is_night = _is_night(local) if night is None else night
    if is_night and channel != "email":
        if not _granted(states.get((ConsentPurpose.MARKETING_NIGHT, channel))):
            return Decision(Verdict.HOLD, f"no night-time consent for {word}: held until 08:00 "
                            "(R43)", _next_morning(now, tz))
    return Decision(Verdict.SEND, f"{word} marketing consent since {_date(entry.since, tz)}")


def consent_notice_decision(purpose: str, channel: str, states: ConsentStates,
                            headers: Mapping[str, Any] | None, tz: ZoneInfo) -> Decision | None:
    """R47: the result notice of an opt-out may go once, to that channel, through the opt-out
    it reports. It must be a `notice` whose headers name this channel's current opt-out (its
    `since`); a later opt-out or an opt-in makes it an ordinary message again."""
    marker = (headers or {}).get("consent_notice")
    if purpose != DeliveryPurpose.NOTICE or not isinstance(marker, Mapping):
        return None
    if marker.get("action") != ConsentAction.OPT_OUT or marker.get("channel") != channel:
        return None
    entry = states.get((ConsentPurpose.REPLY, channel))
    if entry is None or entry.action != ConsentAction.OPT_OUT:
        return None
    try:
        since = datetime.fromisoformat(str(marker.get("since")))
    except ValueError:
        return None
    if since.tzinfo is None or abs((entry.since - since).total_seconds()) >= 1:
        return None
    word = CHANNEL_WORDS.get(channel, channel)
    return Decision(Verdict.SEND, f"R47 result notice of the {word} opt-out on "
                    f"{_date(entry.since, tz)}")


def decide(purpose: str, channel: str, states: ConsentStates, has_contact: bool, now: datetime,
           tz: ZoneInfo, minor_pending: bool = False, to_guardian: bool = False,
           headers: Mapping[str, Any] | None = None) -> Decision:
    """The one question the delivery job asks before sending."""
    if minor_pending and not to_guardian:
        return Decision(Verdict.HOLD, "child under 14: waiting for the guardian's consent (R12)")
    if to_guardian:
        return Decision(Verdict.SEND, "guardian verification request (R12)")
    if purpose == DeliveryPurpose.MARKETING:
        return marketing_decision(states, channel, has_contact, now, tz)
    if purpose in INFORMATIONAL:
        if has_contact:
            notice = consent_notice_decision(purpose, channel, states, headers, tz)
            if notice is not None:
                return notice
        return reply_decision(states, channel, has_contact, tz)
    return Decision(Verdict.SUPPRESS, f"unknown purpose {purpose!r}")
