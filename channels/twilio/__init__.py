"""The twilio channel (its issue fills this package): routes and senders."""

from __future__ import annotations

from typing import Any

from flask import Flask

from intake.hub import Hub


def senders(hub: Hub) -> dict[str, Any]:
    return {}


def register(app: Flask, hub: Hub) -> None:
    pass
