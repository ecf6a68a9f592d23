"""The pure send policy: informational vs advertising, night rules, opt-outs, reconfirmation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from intake.policy import StateEntry, Verdict, decide, marketing_decision, reply_decision

SEOUL = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 3, 15, 1, 0, tzinfo=UTC)  # 10:00 KST


def kst(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SEOUL)


def states(**entries: str) -> dict[tuple[str, str], StateEntry]:
    out = {}
    for key, action in entries.items():
        purpose, _, channel = key.rpartition("_")
        out[(purpose, channel)] = StateEntry(action, T0, T0 + timedelta(days=729)
                                             if purpose == "marketing" else None)
    return out


def test_reply_needs_contact_and_basis_R6():
    assert reply_decision({}, "sms", True, SEOUL).reason == "no consent for SMS"
    assert reply_decision(states(reply_sms="grant"), "sms", False, SEOUL).reason == \
        "no SMS contact point"
    assert reply_decision(states(reply_sms="grant"), "sms", True, SEOUL).allowed


def test_opt_out_stops_replies_and_marketing_R42():
    s = states(reply_sms="opt_out", marketing_sms="grant")
    assert reply_decision(s, "sms", True, SEOUL).reason == "SMS opted out on 2026-03-15"
    assert marketing_decision(s, "sms", True, kst(10), SEOUL).verdict is Verdict.SUPPRESS


def test_informational_messages_go_at_any_hour_R49():
    d = decide("acknowledgement", "sms", states(reply_sms="grant"), True, kst(23, 30), SEOUL)
    assert d.allowed


def test_marketing_needs_per_channel_consent_R40():
    s = states(reply_email="grant", marketing_sms="grant")
    assert decide("marketing", "sms", s, True, kst(10), SEOUL).allowed
    email = decide("marketing", "email", s, True, kst(10), SEOUL)
    assert email.verdict is Verdict.SUPPRESS
    assert "R40" in email.reason


def test_withdrawn_marketing_is_suppressed_at_send_time_R42():
    s = states(marketing_sms="withdraw")
    d = decide("marketing", "sms", s, True, kst(10, 5), SEOUL)
    assert d.verdict is Verdict.SUPPRESS and "withdrawn" in d.reason


def test_night_sms_ad_held_until_eight_without_night_consent_R43():
    d = decide("marketing", "sms", states(marketing_sms="grant"), True, kst(21, 30), SEOUL)
    assert d.verdict is Verdict.HOLD
    assert d.hold_until == kst(8, 0, day=26)
    early = decide("marketing", "sms", states(marketing_sms="grant"), True, kst(7, 59), SEOUL)
    assert early.hold_until == kst(8, 0, day=25)
    with_night = states(marketing_sms="grant", marketing_night_sms="grant")
    assert decide("marketing", "sms", with_night, True, kst(21, 30), SEOUL).allowed


def test_night_email_ad_is_exempt_R43():
    assert decide("marketing", "email", states(marketing_email="grant"), True, kst(22),
                  SEOUL).allowed


def test_kakao_ads_blocked_2050_to_0800_even_with_night_consent_R58():
    s = states(marketing_kakao="grant", marketing_night_kakao="grant")
    d = decide("marketing", "kakao", s, True, kst(20, 50), SEOUL)
    assert d.verdict is Verdict.HOLD and "R58" in d.reason
    assert decide("marketing", "kakao", s, True, kst(20, 49), SEOUL).allowed


def test_overdue_reconfirmation_blocks_ads_R48():
    s = states(marketing_sms="grant")
    due = s[("marketing", "sms")].reconfirm_due
    assert due is not None
    assert decide("marketing", "sms", s, True, due - timedelta(hours=1), SEOUL).allowed
    late = decide("marketing", "sms", s, True, due + timedelta(days=1), SEOUL)
    assert late.verdict is Verdict.SUPPRESS and "R48" in late.reason


def test_child_waits_for_guardian_R12():
    s = states(reply_sms="grant")
    held = decide("acknowledgement", "sms", s, True, kst(10), SEOUL, minor_pending=True)
    assert held.verdict is Verdict.HOLD and "R12" in held.reason
    assert decide("notice", "sms", {}, False, kst(10), SEOUL, minor_pending=True,
                  to_guardian=True).allowed


# -- R47: the result notice of an SMS opt-out (issue 3) --------------------------------------


def _opt_out_notice(since: datetime, channel: str = "sms") -> dict[str, object]:
    return {"consent_notice": {"action": "opt_out", "channel": channel,
                               "since": since.isoformat()}}


def test_r47_opt_out_result_notice_passes_its_own_opt_out():
    s = states(reply_sms="opt_out", marketing_sms="opt_out")
    d = decide("notice", "sms", s, True, kst(10), SEOUL, headers=_opt_out_notice(T0))
    assert d.allowed and "R47" in d.reason


def test_r47_notice_marker_does_not_open_other_purposes_or_channels():
    s = states(reply_sms="opt_out", reply_email="opt_out")
    headers = _opt_out_notice(T0)
    assert not decide("reply", "sms", s, True, kst(10), SEOUL, headers=headers).allowed
    assert not decide("marketing", "sms", s, True, kst(10), SEOUL, headers=headers).allowed
    assert not decide("notice", "email", s, True, kst(10), SEOUL, headers=headers).allowed
    assert not decide("notice", "sms", s, False, kst(10), SEOUL, headers=headers).allowed


def test_r47_notice_for_an_older_opt_out_is_suppressed_R42():
    """A notice naming an opt-out other than the current one (an earlier STOP, since START and
    STOP again) is an ordinary message: the current opt-out suppresses it."""
    s = states(reply_sms="opt_out")
    d = decide("notice", "sms", s, True, kst(10), SEOUL,
               headers=_opt_out_notice(T0 - timedelta(days=3)))
    assert d.verdict is Verdict.SUPPRESS and "opted out" in d.reason


def test_r47_notice_marker_without_an_opt_out_is_an_ordinary_notice():
    d = decide("notice", "sms", states(reply_sms="opt_in"), True, kst(10), SEOUL,
               headers=_opt_out_notice(T0))
    assert d.allowed and "R47" not in d.reason
    bad = decide("notice", "sms", states(reply_sms="opt_out"), True, kst(10), SEOUL,
                 headers={"consent_notice": {"action": "opt_out", "channel": "sms",
                                             "since": "yesterday"}})
    assert bad.verdict is Verdict.SUPPRESS
