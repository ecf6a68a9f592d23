"""Who an inquiry is from: its contact points normalised, the person they belong to (never
found by a name alone) or a new one, and the person's details from the inquiry.

New rows are written with Core statements built once, not ORM objects: every inquiry of every
channel runs through here (bench/ measures it), and the unit of work's bookkeeping for fresh
objects cost more than the rest of the request. A person that already exists is changed through
the ORM, so an object the caller holds stays true.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import Select, and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from intake.contacts import InvalidContact, normalise
from intake.db import expire_if_loaded, utcnow
from intake.inquiry import ContactValue, Inquiry
from intake.models import Consultation, ContactPoint, Person
from intake.redaction import storable_text

_consultations, _people, _points = (Consultation.__table__, Person.__table__,
                                    ContactPoint.__table__)


class InquiryRejected(ValueError):
    """The inquiry cannot be accepted as it is; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Contact:
    kind: str
    value: str
    verified: bool


def normalised_contacts(contacts: tuple[ContactValue, ...]) -> list[Contact]:
    out: list[Contact] = []
    for contact in contacts:
        try:
            value = normalise(contact.kind, contact.value)  # type: ignore[arg-type]
        except InvalidContact as exc:
            raise InquiryRejected(contact.kind, str(exc)) from None
        if all((c.kind, c.value) != (contact.kind, value) for c in out):
            out.append(Contact(contact.kind, value, contact.verified))
    return out


_CONSULTATION_PERSON = select(_consultations.c.person_id).where(
    _consultations.c.id == bindparam("id"))
_INSERT_PERSON = insert(_people).returning(_people.c.id)
_INSERT_POINTS = insert(_points).returning(_points.c.id, sort_by_parameter_order=True)
_LINK_POINT = update(_points).where(_points.c.id == bindparam("point_id")).values(
    person_id=bindparam("person_id"))


@cache
def _contact_lookup(count: int) -> Select[tuple[int, int | None, str, str]]:
    """The contact points matching `count` (kind, value) pairs: `(kind = ? AND value = ?) OR
    ...`, exact pairs in a statement psycopg can prepare (an expanding IN is rendered anew on
    every call)."""
    return select(_points.c.id, _points.c.person_id, _points.c.kind, _points.c.value).where(
        or_(*(and_(_points.c.kind == bindparam(f"kind{i}"),
                   _points.c.value == bindparam(f"value{i}")) for i in range(count))))


@dataclass
class NewPerson:
    """The person `receive` has just written (no ORM object: see the module docstring)."""

    id: int
    name: str | None
    locale: str | None
    guardian_phone: str | None


def resolve_person(session: Session, inquiry: Inquiry, contacts: list[Contact],
                   minor: bool) -> tuple[Person | NewPerson, dict[tuple[str, str], int], bool]:
    """The person the contact points belong to (never found by a name alone), else a new one;
    answers (person, contact point ids by (kind, value), is_new)."""
    conn = session.connection()
    known: dict[tuple[str, str], tuple[int, int | None]] = {}
    if contacts:
        params = {}
        for i, c in enumerate(contacts):
            params[f"kind{i}"], params[f"value{i}"] = c.kind, c.value
        known = {(r.kind, r.value): (r.id, r.person_id)
                 for r in conn.execute(_contact_lookup(len(contacts)), params)}
    person_id: int | None = None
    if inquiry.thread_consultation_id is not None:
        person_id = conn.execute(_CONSULTATION_PERSON,
                                 {"id": inquiry.thread_consultation_id}).scalar()
    if person_id is None:
        for contact in contacts:  # contacts come in the adapter's order of trust
            hit = known.get((contact.kind, contact.value))
            if hit is not None and hit[1] is not None:
                person_id = hit[1]
                break
    values = _profile_values(inquiry, minor)
    person: Person | NewPerson
    if person_id is None:
        row = {"name": None, "sex": None, "birth_date": None, "age": None, "region": None,
               "locale": "ko", "is_minor": False, "guardian_name": None,
               "guardian_phone": None, "created_at": utcnow(), **values}
        person = NewPerson(conn.execute(_INSERT_PERSON, row).scalar_one(), row["name"],
                            row["locale"], row["guardian_phone"])
    else:
        person = session.get_one(Person, person_id)
        for attr, value in values.items():
            setattr(person, attr, value)
    is_new = person_id is None

    points = {key: point_id for key, (point_id, _owner) in known.items()}
    # A caller id (fax) or an address that merely replied into a thread is no proof of
    # identity: kept unlinked until a counsellor confirms it.
    threaded = inquiry.thread_consultation_id is not None
    fresh = [c for c in contacts if (c.kind, c.value) not in known]
    if fresh:
        now = utcnow()
        ids = conn.execute(_INSERT_POINTS, [
            {"person_id": None if c.kind == "fax" or threaded else person.id, "kind": c.kind,
             "value": c.value, "verified": c.verified, "created_at": now} for c in fresh]
        ).scalars()
        points.update(zip(((c.kind, c.value) for c in fresh), ids, strict=True))
    linked = [point_id for (kind, _value), (point_id, owner) in known.items()
              if owner is None and kind != "fax" and not threaded]
    for point_id in linked:
        conn.execute(_LINK_POINT, {"point_id": point_id, "person_id": person.id})
        expire_if_loaded(session, ContactPoint, point_id)
    if not is_new and (fresh or linked):
        session.expire(person, ["contact_points"])
    return person, points, is_new


def _profile_values(inquiry: Inquiry, minor: bool) -> dict[str, object]:
    """The person's columns this inquiry sets (identifiers masked, R9)."""
    values: dict[str, object] = {}
    if inquiry.name:
        values["name"] = storable_text(inquiry.name)[0][:100]
    profile = inquiry.profile
    if profile.locale:
        values["locale"] = profile.locale
    if minor:
        # R12: before the guardian consents, only the child's name and the guardian's contact.
        values.update(is_minor=True, sex=None, region=None, birth_date=None, age=None)
        if inquiry.guardian is not None:
            values["guardian_name"] = storable_text(inquiry.guardian.name)[0][:100]
            try:
                values["guardian_phone"] = normalise("phone", inquiry.guardian.phone)
            except InvalidContact as exc:
                raise InquiryRejected("guardian", str(exc)) from None
        return values
    for attr in ("sex", "birth_date", "age", "region"):
        value = getattr(profile, attr)
        if value is not None:
            values[attr] = storable_text(value)[0] if isinstance(value, str) else value
    return values
