"""SMS opt-out, opt-in and help keywords as consent events (R42, R47).

Called by the Twilio inbound adapter (a STOP/START/HELP text, or Twilio's `OptOutType` when
Advanced Opt-Out is on) and by the Twilio sender (error 21610: the carrier says the recipient
opted out). The domain owns the words and their effect:

- opt-out: `opt_out` events for reply, marketing and marketing_night on the channel (so every
  message on it stops from that moment, queued ones included: the send policy reads the state at
  send time, R42), and one R47 result notice, marked in its headers so that the policy lets this
  one message through the opt-out it reports;
- opt-in: an `opt_in` event for replies only (marketing needs its own consent again, R40);
- help: an informational notice naming the clinic, its phone and the keywords.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from intake.clinic import Clinic
from intake.models import Person
from intake.services.consent import Ledger
from intake.services.deliveries import schedule_delivery
from intake.vocab import ConsentAction, ConsentMethod, ConsentPurpose, DeliveryPurpose

# Twilio's default keywords plus the Korean ones the clinic's patients use.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                           "OPTOUT", "수신거부", "거부", "중지"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP", "수신동의"})
HELP_WORDS = frozenset({"HELP", "INFO", "도움말"})
OPT_OUT_PURPOSES = (ConsentPurpose.REPLY, ConsentPurpose.MARKETING,
                    ConsentPurpose.MARKETING_NIGHT)
# The header a consent-result notice carries (read by `intake.policy.decide`).
CONSENT_NOTICE = "consent_notice"
_NOISE = re.compile(r"[\s.!。,~]+")


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


def keyword_of(body: str | None, opt_out_type: str | None = None) -> Keyword | None:
    """The keyword a message is, if it is one: Twilio's `OptOutType` (STOP/START/HELP) wins;
    else the whole text, case and spacing ignored ("stop", "수신 거부", "STOP!")."""
    kind = (opt_out_type or "").strip().upper()
    if kind in ("STOP", "START", "HELP"):
        return {"STOP": Keyword.OPT_OUT, "START": Keyword.OPT_IN, "HELP": Keyword.HELP}[kind]
    word = _NOISE.sub("", body or "").upper()
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if word in HELP_WORDS:
        return Keyword.HELP
    return None


def _day(at: datetime, clinic: Clinic) -> str:
    local = at.astimezone(clinic.tz)
    return f"{local.year}년 {local.month}월 {local.day}일"


def opt_out_notice(clinic: Clinic, at: datetime, locale: str) -> str:
    """R47: who sends, what the person did and when, and the result; nothing promotional."""
    if locale == "en":
        return (f"[{clinic.name_en}] As you asked on {at.astimezone(clinic.tz).date()}, you "
                "will receive no more text messages from us (advertising included). "
                "Reply START to receive replies again.")
    return (f"[{clinic.name}] {_day(at, clinic)} 수신거부 요청에 따라 "
            "문자 수신(광고성 정보 포함)이 거부 처리되었습니다. "
            "다시 받으시려면 START를 보내 주세요.")


def opt_in_notice(clinic: Clinic, at: datetime, locale: str) -> str:
    if locale == "en":
        return (f"[{clinic.name_en}] As you asked on {at.astimezone(clinic.tz).date()}, you "
                "will receive our replies by text again. Advertising stays off.")
    return (f"[{clinic.name}] {_day(at, clinic)} 요청에 따라 상담 문자 수신이 다시 시작되었습니다. "
            "광고성 정보는 보내지 않습니다.")


def help_notice(clinic: Clinic, locale: str) -> str:
    if locale == "en":
        return (f"[{clinic.name_en}] Consultation line {clinic.phone}. "
                "Reply STOP to stop texts, START to receive them again.")
    return (f"[{clinic.name}] 상담 문의 {clinic.phone}. 수신거부는 STOP 또는 수신거부, "
            "다시 받으시려면 START를 보내 주세요.")


def record_opt_out(session: Session, person: Person, channel: str, method: str,
                   evidence: Mapping[str, Any], at: datetime) -> bool:
    """`opt_out` for reply, marketing and marketing_night on `channel`; answers False (and
    records nothing) when the person had already opted out there, so a second STOP gets no
    second notice."""
    ledger = Ledger.of(session, person.id)
    current = ledger.states.get((ConsentPurpose.REPLY, channel))
    if current is not None and current.action == ConsentAction.OPT_OUT:
        return False
    for purpose in OPT_OUT_PURPOSES:
        ledger.record(purpose, ConsentAction.OPT_OUT, method, evidence, channel=channel, at=at)
    ledger.write()
    return True


def apply_keyword(session: Session, clinic: Clinic, *, keyword: Keyword, person_id: int,
                  consultation_id: int | None, recipient: str, message_sid: str,
                  word: str | None, method: str, at: datetime, channel: str = "sms") -> bool:
    """Act on one keyword message (already stored as a message by `receive`, which makes a
    replay harmless); answers whether anything changed. The caller owns the transaction."""
    person = session.get(Person, person_id)
    if person is None:
        return False
    ConsentMethod(method)
    evidence = {"source": f"{channel}:{message_sid}", "message_sid": message_sid,
                "keyword": (word or "")[:40]}
    locale = person.locale or "ko"
    if keyword is Keyword.OPT_OUT:
        if not record_opt_out(session, person, channel, method, evidence, at):
            return False
        schedule_delivery(session, person_id=person.id, consultation_id=consultation_id,
                          channel=channel, purpose=DeliveryPurpose.NOTICE, recipient=recipient,
                          body=opt_out_notice(clinic, at, locale),
                          headers={CONSENT_NOTICE: {"action": "opt_out", "channel": channel,
                                                    "since": at.isoformat()}})
        return True
    if keyword is Keyword.OPT_IN:
        ledger = Ledger.of(session, person.id)
        current = ledger.states.get((ConsentPurpose.REPLY, channel))
        if current is None or current.action != ConsentAction.OPT_OUT:
            return False  # nothing to restore: the reply basis is already there (R6)
        ledger.record(ConsentPurpose.REPLY, ConsentAction.OPT_IN, method, evidence,
                      channel=channel, at=at)
        ledger.write()
        schedule_delivery(session, person_id=person.id, consultation_id=consultation_id,
                          channel=channel, purpose=DeliveryPurpose.NOTICE, recipient=recipient,
                          body=opt_in_notice(clinic, at, locale))
        return True
    schedule_delivery(session, person_id=person.id, consultation_id=consultation_id,
                      channel=channel, purpose=DeliveryPurpose.NOTICE, recipient=recipient,
                      body=help_notice(clinic, locale))
    return True
