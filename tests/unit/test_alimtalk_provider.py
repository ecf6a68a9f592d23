"""NHN Cloud AlimTalk answers mapped to the sender errors (what becomes of the delivery)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from channels.base import PermanentSendError, TransientSendError, UnknownOutcomeError
from channels.kakao.alimtalk import NhnCloudAlimTalk, Template


class FakeSession:
    """Stands in for `requests.Session`: answers one canned response or raises."""

    def __init__(self, status: int = 200, body: Any = None, raises: Exception | None = None):
        self.status, self.body, self.raises = status, body, raises
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"url": url, **kwargs})
        if self.raises is not None:
            raise self.raises
        response = requests.Response()
        response.status_code = self.status
        response._content = (self.body if isinstance(self.body, bytes)
                             else json.dumps(self.body).encode())
        return response


def send(session: FakeSession) -> Any:
    provider = NhnCloudAlimTalk("https://api-alimtalk.example.com", "app", "secret", "s" * 40,
                                session=session)  # type: ignore[arg-type]
    return provider.send("01023456789", Template("INTAKE_ACK", "#{message}"),
                         {"message": "접수되었습니다"}, "delivery-7")


def test_success_is_sent_with_request_id():
    session = FakeSession(body={"header": {"isSuccessful": True, "resultCode": 0},
                                "message": {"requestId": "r1", "sendResults": [
                                    {"recipientSeq": 1, "resultCode": 0}]}})
    result = send(session)
    assert result.status == "sent" and result.provider_id == "r1:1"
    call = session.calls[0]
    assert call["url"] == "https://api-alimtalk.example.com/alimtalk/v2.3/appkeys/app/messages"
    assert call["headers"]["X-NC-API-IDEMPOTENCY-KEY"] == "delivery-7"


@pytest.mark.parametrize(("status", "body", "error"), [
    (503, {}, TransientSendError),
    (429, {}, TransientSendError),
    (401, {}, PermanentSendError),
    (200, {"header": {"isSuccessful": False, "resultCode": -1006,
                      "resultMessage": "template not found"}}, PermanentSendError),
    (200, {"header": {"isSuccessful": True, "resultCode": 0},
           "message": {"requestId": "r", "sendResults": [{"resultCode": -1023}]}},
     PermanentSendError),
    (200, b"<html>", UnknownOutcomeError),
])
def test_answers_map_to_errors(status, body, error):
    with pytest.raises(error):
        send(FakeSession(status=status, body=body))


def test_connection_refused_is_transient_and_read_timeout_unknown():
    with pytest.raises(TransientSendError):
        send(FakeSession(raises=requests.ConnectionError("refused")))
    with pytest.raises(UnknownOutcomeError):
        send(FakeSession(raises=requests.ReadTimeout("slow")))
