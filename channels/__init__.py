"""Channel adapters (inbound: verify → parse → Inquiry) and senders (outbound).

Each channel is a package with two functions: `register(app, hub)` mounts its routes, and
`senders(hub)` answers the senders it provides for the outbound channels it has credentials
for. `register` below calls every package and puts one sender per outbound channel into
`hub.services["senders"]`, the development sink where no package provides one.
"""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask

from intake.hub import Hub

PACKAGES = ("web", "twilio", "kakao", "email")
OUTBOUND = ("sms", "kakao", "email")


def build_senders(hub: Hub) -> dict[str, Any]:
    from channels.sink import SinkSender

    senders: dict[str, Any] = {channel: SinkSender(channel, hub.db) for channel in OUTBOUND}
    for name in PACKAGES:
        package = importlib.import_module(f"channels.{name}")
        provide = getattr(package, "senders", None)
        if provide is not None:
            senders.update(provide(hub))
    return senders


def register(app: Flask, hub: Hub) -> None:
    hub.register("senders", build_senders(hub))
    for name in PACKAGES:
        importlib.import_module(f"channels.{name}").register(app, hub)
