"""Outbound deliveries with their status history (and what the development sink received)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from intake.api import bp
from intake.api import serialize as ser
from intake.api.docs import documented
from intake.api.request import decode_cursor, encode_cursor, load_query
from intake.api.schemas import DeliveryListSchema, DeliveryQuerySchema
from intake.auth import STAFF_READERS, require_role
from intake.hub import current_hub
from intake.models import Delivery


@bp.get("/deliveries")
@documented("/api/v1/deliveries", "get", "Outbound deliveries, newest first", "deliveries",
            query=DeliveryQuerySchema, response=DeliveryListSchema)
@require_role(*STAFF_READERS)
def list_deliveries() -> ResponseReturnValue:
    args = load_query(DeliveryQuerySchema)
    query = select(Delivery)
    for name in ("consultation_id", "status", "channel"):
        if args.get(name) is not None:
            query = query.where(getattr(Delivery, name) == args[name])
    if args.get("cursor"):
        _at, ident = decode_cursor(args["cursor"])
        query = query.where(Delivery.id < ident)
    limit = args["limit"]
    with current_hub().db.begin() as session:
        rows = session.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        sinks = ser.sinks_for(session, [d.id for d in page])
        items = [ser.delivery(d, sinks.get(d.id)) for d in page]
        next_cursor = encode_cursor(None, page[-1].id) if len(rows) > limit else None
        return jsonify(DeliveryListSchema().dump({"items": items, "next_cursor": next_cursor}))
