"""The KakaoTalk channel: the Open Builder skill webhook (inbound consultations through the
clinic's chatbot, `skill`, `flow`) and AlimTalk (informational messages out, `alimtalk`).

`register` mounts the webhook; `senders` answers the AlimTalk sender when its credentials are
configured (else `channels.build_senders` keeps the development sink for `kakao`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from intake.hub import Hub


def senders(hub: Hub) -> dict[str, Any]:
    from channels.kakao.alimtalk import build_sender

    sender = build_sender(hub)
    return {"kakao": sender} if sender is not None else {}


def register(app: Flask, hub: Hub) -> None:
    from channels.kakao.skill import bp

    app.register_blueprint(bp)
