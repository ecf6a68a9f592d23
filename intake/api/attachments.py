"""Attachment content, served only to staff who may read consultations; every view is
audited (R29). The workspace serves attachments through `attachment_response` too."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.typing import ResponseReturnValue

from intake.api import bp
from intake.api.docs import documented
from intake.app import client_address
from intake.auth import STAFF_READERS, current_principal, require_role
from intake.errors import ApiError
from intake.hub import Hub, current_hub
from intake.models import Attachment, Consultation, Message
from intake.services.audit import audit
from intake.storage import StorageError

INLINE_TYPES = ("image/", "application/pdf", "audio/")


def attachment_response(hub: Hub, attachment_id: int, staff_id: int,
                        **detail: Any) -> Response | None:
    """The attachment's content as a download (inline for images, PDFs and audio, sandboxed),
    after writing the audit entry; None when there is no stored content."""
    with hub.db.begin() as session:
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.storage_key is None:
            return None
        message = session.get(Message, attachment.message_id)
        consultation = session.get(Consultation, message.consultation_id) if message else None
        audit(session, staff_id, "attachment.view",
              consultation.person_id if consultation else None,
              f"attachment:{attachment.id}", client_address(), **detail)
        key, filename = attachment.storage_key, attachment.filename or f"attachment-{attachment.id}"
        content_type = attachment.content_type or "application/octet-stream"
    try:
        content = hub.store.get(key)
    except StorageError:
        return None
    inline = content_type.startswith(INLINE_TYPES)
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    return Response(content, mimetype=content_type, headers={
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{safe_name}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
    })


@bp.get("/attachments/<int:attachment_id>")
@documented("/api/v1/attachments/{attachment_id}", "get", "An attachment's content",
            "consultations", errors=(404,))
@require_role(*STAFF_READERS)
def get_attachment(attachment_id: int) -> ResponseReturnValue:
    response = attachment_response(current_hub(), attachment_id, current_principal().id)
    if response is None:
        raise ApiError(404, "not_found", f"no stored attachment {attachment_id}")
    return response
