"""Attachment storage and the staff-only content route (R29: every view audited)."""

from __future__ import annotations

from sqlalchemy import select

from intake.inquiry import InboundAttachment
from intake.models import Attachment, AuditEntry
from intake.storage import LocalStore
from intake.vocab import Channel
from tests.factories import auth, inquiry, make_staff, received


def test_local_store_is_content_addressed(tmp_path):
    store = LocalStore(tmp_path)
    key = store.put(b"%PDF-1.4 fax pages")
    assert store.put(b"%PDF-1.4 fax pages") == key
    assert store.get(key) == b"%PDF-1.4 fax pages"
    assert len(key) == 64 and (tmp_path / key[:2] / key[2:4] / key).exists()
    store.delete(key)
    assert not (tmp_path / key[:2] / key[2:4] / key).exists()


def test_attachment_served_to_staff_and_audited_R29(client, hub, tmp_path):
    hub.use_store(LocalStore(tmp_path))
    try:
        key = hub.store.put(b"%PDF-1.4 one page")
        receipt = received(hub, inquiry(Channel.EMAIL, email="fax@example.com", attachments=(
            InboundAttachment("pages.pdf", "application/pdf", 17, pages=1),)))
        with hub.db.begin() as session:
            attachment = session.scalars(select(Attachment)).one()
            attachment.storage_key = key
            attachment_id = attachment.id
        staff_id, token = make_staff(hub, "counsellor")
        _m, marketer = make_staff(hub, "marketer")
        url = f"/api/v1/attachments/{attachment_id}"
        assert client.get(url).status_code == 401
        assert client.get(url, headers=auth(marketer)).status_code == 403
        response = client.get(url, headers=auth(token))
        assert response.status_code == 200
        assert response.data == b"%PDF-1.4 one page"
        assert response.mimetype == "application/pdf"
        with hub.db.begin() as session:
            entry = session.scalars(select(AuditEntry).where(
                AuditEntry.action == "attachment.view")).one()
            assert (entry.staff_id, entry.person_id) == (staff_id, receipt.person_id)
        assert client.get("/api/v1/attachments/999999", headers=auth(token)).status_code == 404
    finally:
        hub.use_store(None)  # type: ignore[arg-type]
