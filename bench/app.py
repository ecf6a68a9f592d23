"""The hub as served in production, plus one bare Flask endpoint for comparison.

Both routes live in the same app and the same gunicorn process, so the ratio measures only
what the intake route does beyond parsing a JSON body and answering.
"""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from wsgi import build_app

app = build_app()


@app.post("/bench/bare")
def bare() -> ResponseReturnValue:
    body = request.get_json()
    return jsonify({"ok": True, "fields": len(body)}), 201
