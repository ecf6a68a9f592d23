"""The consultation intake domain: models, the inquiry value, services, the counsellor API."""

from intake.app import create_app

__all__ = ["create_app"]
