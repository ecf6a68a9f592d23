"""The workspace's pages and actions: sign-in, the unified queue, one consultation, the
development sink and the audit log. Routes only: the work is done by `intake.queries` and the
services (`counselling`, `audit`), the same ones the API calls."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import queries, ratelimit
from intake.api import serialize as ser
from intake.api.attachments import attachment_response
from intake.api.request import decode_cursor, encode_cursor
from intake.app import client_address
from intake.contacts import mask_contact
from intake.db import MAX_ID, utcnow
from intake.hub import current_hub
from intake.models import (
    AuditEntry,
    Consultation,
    Delivery,
    Person,
    PersonMerge,
    SinkMessage,
    Staff,
)
from intake.services import counselling, identity
from intake.services import staff as staff_service
from intake.services.audit import audit
from intake.vocab import Channel, ConsultationStatus, Role
from intake.workspace import bp, urgency
from intake.workspace.auth import (
    ADMINS,
    ALL_ROLES,
    AUDITORS,
    READERS,
    WORKERS,
    check_password,
    current_staff,
    end_session,
    require,
    start_session,
)
from intake.workspace.i18n import local_time, translate
from intake.workspace.sms import sms_length

PAGE_SIZE = 25
# Sign-in attempts per client address (across accounts: password spraying); the contract asks
# for at least 20 in 15 minutes, so a clinic behind one NAT address is not locked out.
ADDRESS_LIMIT = 50
ADDRESS_WINDOW = 15 * 60
KINDS = {"sms": "phone", "voice": "phone", "email": "email", "kakao": "kakao"}


def _me() -> Any:
    staff = current_staff()
    assert staff is not None  # `require` ran first
    return staff


def _t(key: str, **values: object) -> str:
    staff = current_staff()
    return translate(staff.locale if staff else "ko", key, **values)


# --- sign-in -----------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    error: str | None = None
    status = 200
    email = ""
    target = request.values.get("next") or ""
    if request.method == "POST":
        email = request.form.get("email", "")
        hub = current_hub()
        allowed, _ = ratelimit.hit(hub.redis, "workspace-sign-in", client_address(),
                                   ADDRESS_LIMIT, ADDRESS_WINDOW)
        if not allowed:
            error = " / ".join(translate(lang, "sign_in.too_many") for lang in ("ko", "en"))
            return render_template("workspace/sign_in.html", error=error, email=email,
                                   next=target), 429
        with hub.db.begin() as session:
            result = check_password(session, email, request.form.get("password", ""),
                                    client_address())
        if result.ok and result.staff_id is not None:
            start_session(result.staff_id)
            # Only our own pages: an open redirect would make a phishing link look like ours.
            if not target.startswith("/workspace/") or target.startswith("//"):
                target = url_for("workspace.queue")
            return redirect(target)
        if result.locked_until is not None:
            error = translate("ko", "sign_in.locked", until=local_time(
                result.locked_until, hub.clinic.tz)) + " / " + translate(
                "en", "sign_in.locked", until=local_time(result.locked_until, hub.clinic.tz))
            status = 429
        else:
            error = translate("ko", "sign_in.wrong") + " / " + translate("en", "sign_in.wrong")
            status = 401
    if request.method == "GET" and current_staff() is not None:
        return redirect(url_for("workspace.queue"))
    return render_template("workspace/sign_in.html", error=error, email=email,
                           next=target), status


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    staff = current_staff()
    if staff is not None:
        with current_hub().db.begin() as session:
            audit(session, staff.id, "workspace.sign_out", None, f"staff:{staff.id}",
                  client_address())
    end_session()
    return redirect(url_for("workspace.sign_in"))


# --- the queue ---------------------------------------------------------------------------


def _queue_filter() -> queries.QueueFilter:
    args = request.args
    return queries.QueueFilter.from_args({k: args.get(k) for k in
                                          ("status", "channel", "interest", "assignee", "q")})


def _after() -> tuple[datetime | None, int] | None:
    cursor = request.args.get("cursor")
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except ValidationError:
        return None


def _queue_context(session: Session) -> dict[str, Any]:
    hub = current_hub()
    me = _me()
    flt = _queue_filter()
    order = request.args.get("order") or "newest"
    if order not in urgency.ORDERS:
        abort(400)
    try:
        if order == "urgent":
            page = urgency.urgent_page(session, flt, me.id, PAGE_SIZE, _after())
        else:
            page = queries.queue_page(session, flt, me.id, PAGE_SIZE, _after())
        counts = queries.status_counts(session, flt, me.id)
    except queries.QueueFilterError:
        abort(400)
    now = utcnow()
    waiting = queries.oldest_unanswered(session, [c.id for c in page.items])
    rows = []
    for c in page.items:
        since = waiting.get(c.id)
        sla = None
        if since is not None and c.status not in queries.CLOSED_STATUSES:
            sla = queries.sla(hub.clinic.hours, since, now,
                              hub.settings.sla_first_response_hours)
        item = ser.list_item(c, page.assignees, me.role != Role.MARKETER)
        rows.append({**item, "waiting_since": since, "sla": sla,
                     "waiting_seconds": (now - since).total_seconds() if since else None})
    staff = session.scalars(select(Staff).where(
        Staff.active.is_(True), Staff.role.in_(counselling.ASSIGNABLE_ROLES))
        .order_by(Staff.name, Staff.id)).all()
    query_args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return {
        "rows": rows, "counts": counts, "flt": flt, "staff": staff, "order": order,
        "next_cursor": encode_cursor(*page.next_key) if page.next_key else None,
        "cursor": request.args.get("cursor"), "query_args": query_args,
        "interests": hub.clinic.interests,
        "channels": [c.value for c in Channel if c != Channel.UNKNOWN],
        "statuses": [s.value for s in ConsultationStatus],
    }


@bp.get("/")
@require(*ALL_ROLES)
def queue() -> ResponseReturnValue:
    with current_hub().db.begin() as session:
        return render_template("workspace/queue.html", **_queue_context(session))


@bp.get("/queue/rows")
@require(*ALL_ROLES)
def queue_rows() -> ResponseReturnValue:
    """The live part of the queue page (counts and rows), polled by workspace.js."""
    with current_hub().db.begin() as session:
        return render_template("workspace/_queue_rows.html", **_queue_context(session))


@bp.post("/take-next")
@require(*WORKERS)
def take_next() -> ResponseReturnValue:
    me = _me()
    with current_hub().db.begin() as session:
        consultation = queries.oldest_unassigned(session)
        if consultation is None:
            flash(_t("take_next.none"), "info")
            return redirect(url_for("workspace.queue"))
        staff = session.get(Staff, me.id)
        counselling.assign(session, consultation, staff, me.id)
        audit(session, me.id, "consultation.assign", consultation.person_id,
              f"consultation:{consultation.id}", client_address(), assignee_id=me.id,
              via="take_next")
        target = consultation.id
    return redirect(url_for("workspace.consultation", consultation_id=target))


# --- one consultation --------------------------------------------------------------------


def _load(session: Session, consultation_id: int) -> Consultation:
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        abort(404)
    return consultation


@bp.get("/consultations/<int:consultation_id>")
@require(*READERS)
def consultation(consultation_id: int) -> ResponseReturnValue:
    hub = current_hub()
    me = _me()
    with hub.db.begin() as session:
        c = _load(session, consultation_id)
        # The consents' ledger is the joined one after a merge (`consent_report`): each event
        # keeps the record it was given on (`person_id`).
        data = ser.consultation(session, c, hub.clinic)
        for m in data["messages"]:
            for a in m["attachments"]:
                if a["url"]:
                    a["url"] = url_for("workspace.attachment", attachment_id=a["id"])
        by_message = {d.message_id: d for d in session.scalars(
            select(Delivery).where(Delivery.consultation_id == c.id))
            if d.message_id is not None}
        reasons = counselling.reply_reasons(session, c, hub.clinic)
        if counselling.guardian_pending(session, c.person):
            reasons = {ch: (False, "guardian consent not recorded (R12)") for ch in reasons}
        staff = session.scalars(select(Staff)).all()
        names = {s.id: s.name or s.email for s in staff}
        assignable = [s for s in staff if s.active and s.role in counselling.ASSIGNABLE_ROLES]
        audit(session, me.id, "consultation.view", c.person_id, f"consultation:{c.id}",
              client_address(), via="workspace")
        draft = request.args.get("draft", "")
        hints = identity.suggestions(session, c.person)
        people = {p.id: p for p in session.scalars(select(Person).where(
            Person.id.in_([h.person_id for h in hints])))} if hints else {}
        suggested = [{"id": h.person_id, "reason": h.reason,
                      "person": ser.masked_person(people[h.person_id])}
                     for h in hints if h.person_id in people]
        merges = identity.merges_of(session, c.person_id)
        return render_template(
            "workspace/consultation.html", c=data, reasons=reasons, names=names,
            delivery_status={mid: d.status for mid, d in by_message.items()},
            delivery_reason={mid: d.reason for mid, d in by_message.items()},
            assignable=assignable, statuses=[s.value for s in ConsultationStatus],
            can_act=me.role in WORKERS, sms=sms_length(draft),
            default_channel=next((ch for ch, (ok, _) in reasons.items() if ok), None),
            suggested=suggested, merges=merges,
        )


def _act(consultation_id: int, action: str, work: Any) -> ResponseReturnValue:
    """Run one counsellor action in a transaction; a refusal is shown on the page."""
    hub = current_hub()
    me = _me()
    with hub.db.begin() as session:
        c = _load(session, consultation_id)
        try:
            detail = work(session, c, me) or {}
        except counselling.ActionRefused as exc:
            session.rollback()
            flash(f"{_t('refused')}: {exc}", "error")
            return redirect(url_for("workspace.consultation", consultation_id=consultation_id))
        audit(session, me.id, action, c.person_id, f"consultation:{c.id}", client_address(),
              via="workspace", **detail)
    return redirect(url_for("workspace.consultation", consultation_id=consultation_id)
                    + "#thread")


@bp.post("/consultations/<int:consultation_id>/reply")
@require(*WORKERS)
def reply(consultation_id: int) -> ResponseReturnValue:
    body = request.form.get("body", "").strip()
    channel = request.form.get("channel") or None
    subject = request.form.get("subject", "").strip() or None
    if not body or (channel is not None and channel not in counselling.REPLY_ORDER):
        abort(400)

    def work(session: Session, c: Consultation, me: Any) -> dict[str, Any]:
        delivery = counselling.reply(session, c, current_hub().clinic, body, me.id,
                                     channel=channel, subject=subject)
        return {"delivery_id": delivery.id, "channel": delivery.channel}

    return _act(consultation_id, "consultation.reply", work)


@bp.post("/consultations/<int:consultation_id>/status")
@require(*WORKERS)
def change_status(consultation_id: int) -> ResponseReturnValue:
    status = request.form.get("status", "")
    if status not in {s.value for s in ConsultationStatus}:
        abort(400)

    def work(session: Session, c: Consultation, me: Any) -> dict[str, Any]:
        before = c.status
        counselling.change_status(session, c, status, me.id, request.form.get("reason"))
        return {"before": before, "after": c.status}

    return _act(consultation_id, "consultation.status", work)


@bp.post("/consultations/<int:consultation_id>/assign")
@require(*WORKERS)
def assign(consultation_id: int) -> ResponseReturnValue:
    raw = request.form.get("assignee_id", "")
    if raw and (not raw.isdecimal() or int(raw) > MAX_ID):
        abort(400)

    def work(session: Session, c: Consultation, me: Any) -> dict[str, Any]:
        staff = session.get(Staff, int(raw)) if raw else None
        if raw and staff is None:
            abort(400)
        counselling.assign(session, c, staff, me.id)
        return {"assignee_id": staff.id if staff else None}

    return _act(consultation_id, "consultation.assign", work)


@bp.post("/consultations/<int:consultation_id>/notes")
@require(*WORKERS)
def add_note(consultation_id: int) -> ResponseReturnValue:
    body = request.form.get("body", "").strip()
    if not body:
        abort(400)

    def work(session: Session, c: Consultation, me: Any) -> dict[str, Any]:
        note = counselling.add_note(session, c, body, me.id)
        return {"note_id": note.id}

    return _act(consultation_id, "consultation.note", work)


@bp.get("/attachments/<int:attachment_id>")
@require(*READERS)
def attachment(attachment_id: int) -> ResponseReturnValue:
    response = attachment_response(current_hub(), attachment_id, _me().id, via="workspace")
    if response is None:
        abort(404)
    return response


# --- development sink and audit ----------------------------------------------------------


@bp.get("/sink")
@require(*READERS)
def sink() -> ResponseReturnValue:
    """What channels without credentials would have sent: for a newcomer running the hub."""
    with current_hub().db.begin() as session:
        rows = session.scalars(select(SinkMessage).order_by(SinkMessage.id.desc())
                               .limit(200)).all()
        deliveries = {d.id: d for d in session.scalars(select(Delivery).where(
            Delivery.id.in_([r.delivery_id for r in rows if r.delivery_id])))} if rows else {}
        items = [{"row": r, "delivery": deliveries.get(r.delivery_id or 0),
                  "recipient": mask_contact(KINDS.get(r.channel, "phone"), r.recipient)}
                 for r in rows]
        return render_template("workspace/sink.html", items=items)


def _day(text: str | None, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        abort(400)
    local = datetime.combine(day, time.min, tzinfo=current_hub().clinic.tz)
    return (local + timedelta(days=1) if end else local).astimezone(UTC)


@bp.get("/audit")
@require(*AUDITORS)
def audit_log() -> ResponseReturnValue:
    args = request.args
    query = select(AuditEntry)
    if args.get("staff", "").isdigit():
        query = query.where(AuditEntry.staff_id == int(args["staff"]))
    if args.get("action"):
        query = query.where(AuditEntry.action.startswith(args["action"].strip(),
                                                         autoescape=True))
    start, end = _day(args.get("from")), _day(args.get("to"), end=True)
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    if args.get("before", "").isdigit():
        query = query.where(AuditEntry.id < int(args["before"]))
    me = _me()
    with current_hub().db.begin() as session:
        rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(101)).all()
        staff = session.scalars(select(Staff).order_by(Staff.email)).all()
        audit(session, me.id, "audit.view", None, "audit", client_address(),
              filters={k: v for k, v in args.items() if v})
        more = rows[99].id if len(rows) > 100 else None
        return render_template("workspace/audit.html", rows=rows[:100], staff=staff,
                               names={s.id: s.email for s in staff}, more=more,
                               args=args)


# --- people: merge and undo --------------------------------------------------------------


def _back(consultation_id: str | None) -> ResponseReturnValue:
    if consultation_id and consultation_id.isdigit():
        return redirect(url_for("workspace.consultation", consultation_id=int(consultation_id))
                        + "#people")
    return redirect(url_for("workspace.queue"))


@bp.post("/people/<int:person_id>/merge")
@require(*WORKERS)
def merge_people(person_id: int) -> ResponseReturnValue:
    """A counsellor confirms that `other_id` is the same person: it folds into `person_id`."""
    other = request.form.get("other_id", "").strip().lstrip("#")
    why = request.form.get("reason", "").strip() or "counsellor"
    if not other.isdigit():
        abort(400)
    me = _me()
    with current_hub().db.begin() as session:
        survivor, merged = session.get(Person, person_id), session.get(Person, int(other))
        if survivor is None or merged is None:
            abort(404)
        try:
            record = identity.merge(session, survivor, merged, me.id, why)
        except identity.MergeRefused as exc:
            session.rollback()
            flash(f"{_t('refused')}: {exc}", "error")
            return _back(request.form.get("consultation_id"))
        audit(session, me.id, "person.merge", person_id, f"person:{other}", client_address(),
              merge_id=record.id, reason=why)
    return _back(request.form.get("consultation_id"))


@bp.post("/merges/<int:merge_id>/undo")
@require(*WORKERS)
def undo_merge(merge_id: int) -> ResponseReturnValue:
    me = _me()
    with current_hub().db.begin() as session:
        record = session.get(PersonMerge, merge_id)
        if record is None:
            abort(404)
        try:
            identity.undo(session, record, me.id)
        except identity.MergeRefused as exc:
            session.rollback()
            flash(f"{_t('refused')}: {exc}", "error")
            return _back(request.form.get("consultation_id"))
        audit(session, me.id, "person.merge_undo", record.survivor_id,
              f"person:{record.merged_id}", client_address(), merge_id=record.id)
    return _back(request.form.get("consultation_id"))


# --- staff administration (admins only, R28) ---------------------------------------------


def _staff_page(session: Session, error: str | None = None,
                form: dict[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    rows = session.scalars(select(Staff).order_by(Staff.email)).all()
    history = session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("staff."),
                                                       AuditEntry.action != "staff.locked")
                              .order_by(AuditEntry.id.desc()).limit(50)).all()
    names = {s.id: s.email for s in rows}
    return render_template("workspace/staff.html", rows=rows, error=error, form=form or {},
                           roles=[r.value for r in Role], locales=list(staff_service.STAFF_LOCALES),
                           now=utcnow(), history=history, names=names), status


@bp.get("/admin/staff")
@require(*ADMINS)
def staff_admin() -> ResponseReturnValue:
    with current_hub().db.begin() as session:
        return _staff_page(session)


@bp.post("/admin/staff")
@require(*ADMINS)
def staff_create() -> ResponseReturnValue:
    form = {k: request.form.get(k, "").strip() for k in ("email", "name", "role", "locale")}
    hub = current_hub()
    try:
        with hub.db.begin() as session:
            staff = staff_service.add_staff(
                session, _me().id, form["email"], form["role"], request.form.get("password", ""),
                name=form["name"], locale=form["locale"] or "ko", ip=client_address())
            email = staff.email
    except staff_service.StaffError as exc:  # the transaction rolled back: nothing written
        with hub.db.begin() as session:
            return _staff_page(session, error=f"{_t('refused')}: {exc}", form=form, status=400)
    flash(_t("staff.created", email=email), "info")
    return redirect(url_for("workspace.staff_admin"))


def _staff_change(staff_id: int, work: Any) -> ResponseReturnValue:
    """Run one change to a staff account; a refusal shows on the page as a 400."""
    hub = current_hub()
    try:
        with hub.db.begin() as session:
            staff = session.get(Staff, staff_id)
            if staff is None:
                abort(404)
            changed = work(session, staff, _me().id)
            email = staff.email
    except staff_service.StaffError as exc:  # the transaction rolled back: nothing written
        with hub.db.begin() as session:
            return _staff_page(session, error=f"{_t('refused')}: {exc}", status=400)
    flash(_t("staff.changed", email=email) if changed else _t("staff.unchanged"), "info")
    return redirect(url_for("workspace.staff_admin"))


@bp.post("/admin/staff/<int:staff_id>")
@require(*ADMINS)
def staff_change(staff_id: int) -> ResponseReturnValue:
    role = request.form.get("role") or None
    locale = request.form.get("locale") or None
    return _staff_change(staff_id, lambda session, staff, me: staff_service.change_staff(
        session, staff, me, role=role, locale=locale, ip=client_address()))


@bp.post("/admin/staff/<int:staff_id>/active")
@require(*ADMINS)
def staff_active(staff_id: int) -> ResponseReturnValue:
    value = request.form.get("active", "")
    if value not in ("0", "1"):
        abort(400)
    return _staff_change(staff_id, lambda session, staff, me: staff_service.set_staff_active(
        session, staff, value == "1", me, ip=client_address()))


@bp.post("/admin/staff/<int:staff_id>/unlock")
@require(*ADMINS)
def staff_unlock(staff_id: int) -> ResponseReturnValue:
    return _staff_change(staff_id, lambda session, staff, me: staff_service.unlock_staff(
        session, staff, me, ip=client_address()))
