"""IMAP polling: the UID bookkeeping against a scripted mailbox (the mark advances per committed
message, UIDVALIDITY changes restart it, replays are harmless), and the whole job through
imap-tools against a local IMAP4rev1 stand-in on 127.0.0.1 (no real IMAP server runs here; the
stand-in speaks the commands imap-tools sends: CAPABILITY, LOGIN, SELECT, STATUS, UID SEARCH,
UID FETCH with BODY.PEEK, LOGOUT)."""

from __future__ import annotations

import dataclasses
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from channels.email.imap import parse_imap_url, poll
from intake.hub import Hub
from intake.models import ImapMailbox, Message
from workers.context import set_hub
from workers.email_jobs import POLL_KEY, poll_imap


def mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"person{n}@example.net"
    msg["Subject"] = f"문의 {n}"
    msg["Message-ID"] = f"<imap-{n}@example.net>"
    msg.set_content(f"상담 문의 {n}")
    return msg.as_bytes()


class ScriptedMailbox:
    def __init__(self, validity: int, messages: dict[int, bytes]) -> None:
        self.validity = validity
        self.messages = messages
        self.asked: list[int] = []

    def uidvalidity(self) -> int:
        return self.validity

    def fetch_after(self, uid: int, limit: int) -> Iterator[tuple[int, bytes]]:
        self.asked.append(uid)
        # Like a real server for `UID n:*`: the highest message even when n is above it.
        uids = sorted(u for u in self.messages if u > uid) or [max(self.messages)]
        for u in uids[:limit]:
            yield u, self.messages[u]


def stored(hub: Hub) -> int:
    with hub.db.begin() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def state(hub: Hub) -> tuple[int | None, int]:
    with hub.db.begin() as session:
        row = session.get_one(ImapMailbox, "box")
        return row.uidvalidity, row.last_uid


def test_uid_mark_advances_and_repeats_fetch_nothing(hub):
    box = ScriptedMailbox(7, {3: mail(3), 5: mail(5)})
    result = poll(hub, box, "box")
    assert (result.fetched, result.stored, result.last_uid) == (2, 2, 5)
    assert state(hub) == (7, 5)
    again = poll(hub, box, "box")
    assert (again.fetched, again.stored) == (0, 0)  # `UID 6:*` answered 5: ignored
    box.messages[9] = mail(9)
    assert poll(hub, box, "box").stored == 1
    assert box.asked == [0, 5, 5] and state(hub) == (7, 9) and stored(hub) == 3


def test_uidvalidity_change_rereads_without_duplicates(hub):
    poll(hub, ScriptedMailbox(1, {10: mail(1), 11: mail(2)}), "box")
    renumbered = ScriptedMailbox(2, {1: mail(1), 2: mail(2), 3: mail(3)})
    result = poll(hub, renumbered, "box")
    assert renumbered.asked == [0]
    assert (result.fetched, result.stored) == (3, 1)
    assert state(hub) == (2, 3) and stored(hub) == 3


def test_unreadable_message_is_skipped_and_the_mark_moves_on(hub):
    result = poll(hub, ScriptedMailbox(1, {1: b"\r\n\r\n", 2: mail(2)}), "box")
    assert (result.skipped, result.stored, result.last_uid) == (1, 1, 2)


def test_transient_failure_keeps_the_mark_before_the_failing_message(hub, monkeypatch):
    calls = {"n": 0}
    import channels.email.imap as imap

    real = imap.accept

    def flaky(hub_: Hub, parsed):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("database went away")
        return real(hub_, parsed)

    monkeypatch.setattr(imap, "accept", flaky)
    with pytest.raises(ConnectionError):
        poll(hub, ScriptedMailbox(1, {1: mail(1), 2: mail(2)}), "box")
    assert state(hub) == (1, 1)
    assert poll(hub, ScriptedMailbox(1, {1: mail(1), 2: mail(2)}), "box").stored == 1


def test_imap_url_parsing():
    target = parse_imap_url("imaps://clinic%40example.com:p%40ss@mail.example.com/Inbox/Fax")
    assert (target.host, target.port, target.tls) == ("mail.example.com", 993, True)
    assert (target.username, target.password, target.folder) == (
        "clinic@example.com", "p@ss", "Inbox/Fax")
    assert parse_imap_url("imap://u:p@127.0.0.1:1143").port == 1143
    assert "p@ss" not in target.key
    with pytest.raises(ValueError):
        parse_imap_url("https://mail.example.com")


def test_poll_job_is_disabled_without_imap_url(hub):
    set_hub(hub)
    try:
        assert poll_imap() == "disabled"
    finally:
        set_hub(None)


class _ImapStandIn(socketserver.StreamRequestHandler):
    """Just enough IMAP4rev1 (RFC 3501) for imap-tools; messages in `server.store`."""

    server: _Server

    def _send(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        store = self.server.store
        self._send("* OK stand-in IMAP4rev1 ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            self.server.commands.append(f"{command} {args}")
            if command == "CAPABILITY":
                self._send("* CAPABILITY IMAP4rev1")
            elif command == "LOGIN":
                if args.replace('"', "") != "clinic secret":
                    self._send(f"{tag} NO login refused")
                    continue
            elif command in ("SELECT", "EXAMINE"):
                self._send(f"* {len(store)} EXISTS")
                self._send("* 0 RECENT")
                self._send(f"* OK [UIDVALIDITY {self.server.validity}] UIDs valid")
            elif command == "STATUS":
                self._send(f'* STATUS "INBOX" (UIDVALIDITY {self.server.validity})')
            elif command == "UID" and args.upper().startswith("SEARCH"):
                if match := re.search(r"UID (\d+):\*", args):
                    first = int(match.group(1))
                    uids = sorted(u for u in store if u >= first) or sorted(store)[-1:]
                else:
                    wanted = re.search(r"UID ([\d,]+)", args)
                    listed = {int(u) for u in wanted.group(1).split(",")} if wanted else set()
                    uids = sorted(u for u in store if u in listed)
                self._send("* SEARCH " + " ".join(map(str, uids)))
            elif command == "UID" and args.upper().startswith("FETCH"):
                uid = int(args.split()[1])
                data = store[uid]
                seq = sorted(store).index(uid) + 1
                self.wfile.write(f"* {seq} FETCH (UID {uid} FLAGS () RFC822.SIZE {len(data)} "
                                 f"BODY[] {{{len(data)}}}\r\n".encode() + data + b")\r\n")
            elif command == "LOGOUT":
                self._send("* BYE")
                self._send(f"{tag} OK LOGOUT completed")
                return
            elif command not in ("NOOP", "CLOSE"):
                self._send(f"{tag} BAD unsupported by the stand-in")
                continue
            self._send(f"{tag} OK {command} completed")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, store: dict[int, bytes], validity: int) -> None:
        super().__init__(("127.0.0.1", 0), _ImapStandIn)
        self.store, self.validity = store, validity
        self.commands: list[str] = []


@pytest.fixture
def imap_server(hub: Hub) -> Iterator[_Server]:
    server = _Server({4: mail(4), 8: mail(8)}, validity=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    original = hub.settings
    hub.settings = dataclasses.replace(
        original, imap_url=f"imap://clinic:secret@127.0.0.1:{port}/INBOX", imap_poll_seconds=60)
    set_hub(hub)
    try:
        yield server
    finally:
        set_hub(None)
        hub.settings = original
        server.shutdown()
        server.server_close()


def test_poll_job_reads_a_mailbox_over_imap(hub, imap_server):
    assert poll_imap() == "fetched 2, stored 2, skipped 0"
    assert poll_imap() == "not due"  # IMAP_POLL_SECONDS holds between runs
    hub.redis.delete(POLL_KEY)
    imap_server.store[12] = mail(12)
    assert poll_imap() == "fetched 1, stored 1, skipped 0"
    hub.redis.delete(POLL_KEY)
    assert poll_imap() == "fetched 0, stored 0, skipped 0"
    assert stored(hub) == 3
    with hub.db.begin() as session:
        [row] = session.scalars(select(ImapMailbox)).all()
        assert (row.uidvalidity, row.last_uid) == (3, 12)
        assert "secret" not in row.mailbox
    fetches = [c for c in imap_server.commands if c.upper().startswith("UID FETCH")]
    assert fetches and all("BODY.PEEK[]" in c for c in fetches)  # never marked seen
    assert not any(c.upper().startswith("UID STORE") for c in imap_server.commands)


def test_poll_job_wrong_password_raises_for_rq_to_record(hub, imap_server):
    hub.settings = dataclasses.replace(
        hub.settings, imap_url=hub.settings.imap_url.replace("secret", "wrong"))
    with pytest.raises(Exception, match="(?i)login|refused|NO"):
        poll_imap()
    assert stored(hub) == 0
    assert socket  # the stand-in listens on 127.0.0.1 only


def test_old_mailgun_tokens_are_purged(hub):
    from datetime import timedelta

    from intake.db import utcnow
    from intake.models import MailgunToken
    from workers.email_jobs import purge_mailgun_tokens

    with hub.db.begin() as session:
        session.add(MailgunToken(token="old", message_key="<a@x>",
                                 seen_at=utcnow() - timedelta(hours=2)))
        session.add(MailgunToken(token="new", message_key="<b@x>"))
    set_hub(hub)
    try:
        assert purge_mailgun_tokens() == 1
    finally:
        set_hub(None)
    with hub.db.begin() as session:
        assert [t.token for t in session.scalars(select(MailgunToken))] == ["new"]
