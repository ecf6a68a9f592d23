"""The consent ledger: append an event with its evidence, keep the derived state in step, and
report the state with the evidence behind it (R1-R7, R40-R43, R47, R48)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from intake.db import expire_if_loaded, utcnow
from intake.models import ConsentEvent, ConsentState, ContactPoint, Person
from intake.policy import (
    ConsentStates,
    StateEntry,
    marketing_decision,
    reply_decision,
)
from intake.vocab import (
    CONSENT_CHANNELS,
    OUTBOUND_CHANNELS,
    ConsentAction,
    ConsentMethod,
    ConsentPurpose,
)

CHANNELLED = (ConsentPurpose.REPLY, ConsentPurpose.MARKETING, ConsentPurpose.MARKETING_NIGHT)


class ConsentError(ValueError):
    """A consent event that cannot be recorded (no evidence, wrong channel...)."""


def reconfirm_due(granted_at: datetime) -> datetime:
    """R48: every two years from the consent date, before the same calendar date."""
    try:
        anniversary = granted_at.replace(year=granted_at.year + 2)
    except ValueError:  # 29 February
        anniversary = granted_at.replace(year=granted_at.year + 2, day=28)
    return anniversary - timedelta(days=1)


@dataclass
class LedgerState:
    """The current state of one (purpose, channel) while a ledger is open."""

    action: str
    since: datetime
    reconfirm_due: datetime | None = None
    stored: bool = False  # a consent_states row exists for it


_events, _states = ConsentEvent.__table__, ConsentState.__table__
# Built once: the intake path runs them for every inquiry.
_READ_STATES = select(_states.c.purpose, _states.c.channel, _states.c.action, _states.c.since,
                      _states.c.reconfirm_due).where(_states.c.person_id == bindparam("person_id"))
# A ledger about to write reads its states FOR UPDATE: two changes for one person at once (two
# STOP messages) are decided one after the other, on fresh states (one opt-out, one notice).
_LOCK_STATES = _READ_STATES.with_for_update()
_INSERT_EVENTS = insert(_events).returning(_events.c.id, sort_by_parameter_order=True)
_INSERT_STATES = insert(_states)
_UPDATE_STATES = update(_states).where(  # bound as k_*: the SET clause owns the column names
    *(_states.c[k] == bindparam(f"k_{k}") for k in ("person_id", "purpose", "channel")))


class Ledger:
    """One person's consent ledger inside one transaction: the current states are read once,
    events are appended (and states moved) in memory, and `write` stores them all: one
    statement for the events, one for new states, one for changed states.

    Core statements, not ORM objects: every inbound inquiry runs through here (bench/), and the
    states it reads or writes are not held as objects anywhere else in the request."""

    def __init__(self, session: Session, person_id: int,
                 states: dict[tuple[str, str], LedgerState]) -> None:
        self.session, self.person_id, self.states = session, person_id, states
        self._pending: list[tuple[tuple[str, str], dict[str, Any]]] = []  # (state key, event)

    @classmethod
    def of(cls, session: Session, person_id: int, is_new: bool = False) -> Ledger:
        states: dict[tuple[str, str], LedgerState] = {}
        if not is_new:
            rows = session.connection().execute(_LOCK_STATES, {"person_id": person_id})
            states = {(r.purpose, r.channel): LedgerState(r.action, r.since, r.reconfirm_due,
                                                          stored=True) for r in rows}
        return cls(session, person_id, states)

    def record(self, purpose: str, action: str, method: str, evidence: Mapping[str, Any],
               channel: str | None = None, at: datetime | None = None,
               recorded_by_id: int | None = None) -> None:
        """Append one event with its evidence and move the derived state with it (stored by
        `write`)."""
        purpose = ConsentPurpose(purpose)
        action = ConsentAction(action)
        ConsentMethod(method)
        if not evidence:
            raise ConsentError("a consent event needs its evidence (R5)")
        if purpose in CHANNELLED and channel not in CONSENT_CHANNELS:
            raise ConsentError(f"{purpose} consent needs one of the channels {CONSENT_CHANNELS}")
        if purpose not in CHANNELLED:
            channel = None
        at = at or utcnow()
        key = (str(purpose), channel or "")
        self._pending.append((key, {
            "person_id": self.person_id, "purpose": str(purpose), "channel": channel,
            "action": str(action), "method": str(method), "evidence": dict(evidence), "at": at,
            "recorded_by_id": recorded_by_id}))
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = LedgerState(action, at)
        state.action, state.since = str(action), at
        state.reconfirm_due = (reconfirm_due(at) if purpose == ConsentPurpose.MARKETING
                               and action == ConsentAction.GRANT else None)

    def write(self) -> list[int]:
        """Store the recorded events and the states they moved; answers the new events' ids in
        the order they were recorded."""
        if not self._pending:
            return []
        conn = self.session.connection()
        keys = [key for key, _event in self._pending]
        ids = list(conn.execute(_INSERT_EVENTS, [event for _key, event in self._pending])
                   .scalars())
        self._pending = []
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        # dict(): the latest event of each state wins.
        for (purpose, channel), event_id in dict(zip(keys, ids, strict=True)).items():
            state = self.states[(purpose, channel)]
            values = {"action": state.action, "event_id": event_id, "since": state.since,
                      "reconfirm_due": state.reconfirm_due}
            if state.stored:
                updates.append({"k_person_id": self.person_id, "k_purpose": purpose,
                                "k_channel": channel, **values})
                expire_if_loaded(self.session, ConsentState, (self.person_id, purpose, channel))
            else:
                inserts.append({"person_id": self.person_id, "purpose": purpose,
                                "channel": channel, **values})
                state.stored = True
        if inserts:
            conn.execute(_INSERT_STATES, inserts)
        if updates:
            conn.execute(_UPDATE_STATES, updates)
        return ids

    def entries(self) -> dict[tuple[str, str], StateEntry]:
        return {key: StateEntry(s.action, s.since, s.reconfirm_due)
                for key, s in self.states.items()}

    def granted(self, purpose: str, channel: str = "") -> bool:
        state = self.states.get((purpose, channel))
        return state is not None and state.action in (ConsentAction.GRANT, ConsentAction.OPT_IN)


def record_consent(session: Session, person_id: int, purpose: str, action: str, method: str,
                   evidence: Mapping[str, Any], channel: str | None = None,
                   at: datetime | None = None, recorded_by_id: int | None = None) -> ConsentEvent:
    """Append one event to a person's ledger and update the derived state, stored."""
    if session.get(Person, person_id) is None:
        raise ConsentError(f"no person {person_id}")
    ledger = Ledger.of(session, person_id)
    ledger.record(purpose, action, method, evidence, channel, at, recorded_by_id)
    [event_id] = ledger.write()
    return session.get_one(ConsentEvent, event_id)


def load_states(session: Session, person_id: int) -> dict[tuple[str, str], StateEntry]:
    rows = session.connection().execute(_READ_STATES, {"person_id": person_id})
    return {(r.purpose, r.channel): StateEntry(r.action, r.since, r.reconfirm_due) for r in rows}


def contact_kinds(session: Session, person_id: int) -> set[str]:
    return set(session.scalars(
        select(ContactPoint.kind).where(ContactPoint.person_id == person_id)))


def allowed_matrix(states: ConsentStates, kinds: set[str], now: datetime,
                   tz: ZoneInfo) -> dict[str, dict[str, dict[str, Any]]]:
    """For each channel and purpose: may a message go now, and why (the API's `allowed`)."""
    matrix: dict[str, dict[str, dict[str, Any]]] = {}
    for channel in CONSENT_CHANNELS:
        has = OUTBOUND_CHANNELS[channel] in kinds
        reply = reply_decision(states, channel, has, tz)
        marketing = marketing_decision(states, channel, has, now, tz, night=False)
        night = marketing_decision(states, channel, has, now, tz, night=True)
        matrix[channel] = {
            "reply": {"allowed": reply.allowed, "reason": reply.reason},
            "marketing": {"allowed": marketing.allowed, "reason": marketing.reason},
            "marketing_night": {"allowed": night.allowed, "reason": night.reason},
        }
    return matrix


def consent_report(session: Session, person: Person, tz: ZoneInfo,
                   now: datetime | None = None) -> dict[str, Any]:
    """The consents object of the public contract: allowed-now matrix, health flag, ledger."""
    now = now or utcnow()
    states = load_states(session, person.id)
    kinds = {cp.kind for cp in person.contact_points}
    # After a merge the states come from the joined ledgers (`identity.rederive_states`), so
    # the ledger shown is the joined one too: the evidence behind every state. (Imported here:
    # identity imports this module.)
    from intake.services.identity import ledger_people

    people = ledger_people(session, person.id)
    ledger = session.scalars(select(ConsentEvent).where(ConsentEvent.person_id.in_(people))
                             .order_by(ConsentEvent.at, ConsentEvent.id))
    health = states.get((ConsentPurpose.SENSITIVE_HEALTH, ""))
    guardian = states.get((ConsentPurpose.GUARDIAN, ""))
    return {
        "person_id": person.id,
        "allowed": allowed_matrix(states, kinds, now, tz),
        "sensitive_health": health is not None and health.action == ConsentAction.GRANT,
        "guardian_pending": bool(person.is_minor) and not (
            guardian is not None and guardian.action == ConsentAction.GRANT),
        "ledger": [
            {"id": e.id, "purpose": e.purpose, "channel": e.channel, "action": e.action,
             "method": e.method, "evidence": e.evidence, "at": e.at, "person_id": e.person_id}
            for e in ledger
        ],
    }


def has_sensitive_consent(session: Session, person_id: int) -> bool:
    state = session.get(ConsentState, (person_id, ConsentPurpose.SENSITIVE_HEALTH.value, ""))
    return state is not None and state.action == ConsentAction.GRANT
