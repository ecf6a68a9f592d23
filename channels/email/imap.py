"""IMAP polling: an ordinary mailbox as an inbound route, read by UID (no provider needed).

`poll(hub, source, mailbox)` takes the messages above the highest UID already taken, hands each
to `channels.email.inbound.accept` (idempotent on Message-ID), and advances the mailbox's
`last_uid` after each one is committed. A changed UIDVALIDITY means the server renumbered the
folder: the mark restarts at 0 and the re-read messages are recognised as duplicates.
Messages are fetched with BODY.PEEK (never marked seen), so people reading the same mailbox
see what is new to them. Called by `workers.email_jobs.poll_imap`; `ImapToolsSource` wraps an
`imap_tools.MailBox`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from channels.email.inbound import accept
from channels.email.parsing import UnreadableEmail, parse_bytes
from intake.hub import Hub
from intake.models import ImapMailbox
from intake.services.receive import InquiryRejected

log = logging.getLogger(__name__)
MAX_PER_POLL = 200  # a first poll of a big mailbox is spread over several runs


class MailSource(Protocol):
    def uidvalidity(self) -> int: ...

    def fetch_after(self, uid: int, limit: int) -> Iterator[tuple[int, bytes]]: ...


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    tls: bool
    username: str
    password: str
    folder: str

    @property
    def key(self) -> str:
        """The mailbox's identity in `email_imap_mailboxes` (no password)."""
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"[:255]


def parse_imap_url(url: str) -> ImapTarget:
    """`imaps://user:pass@host[:port]/FOLDER` (or `imap://` without TLS); folder INBOX."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError("IMAP_URL must look like imaps://user:password@host/INBOX")
    tls = parts.scheme == "imaps"
    return ImapTarget(host=parts.hostname, port=parts.port or (993 if tls else 143), tls=tls,
                      username=unquote(parts.username or ""),
                      password=unquote(parts.password or ""),
                      folder=unquote(parts.path.lstrip("/")) or "INBOX")


@dataclass(frozen=True)
class PollResult:
    fetched: int
    stored: int
    skipped: int
    last_uid: int


def poll(hub: Hub, source: MailSource, mailbox: str) -> PollResult:
    validity = source.uidvalidity()
    with hub.db.begin() as session:
        state = session.get(ImapMailbox, mailbox)
        if state is None:
            state = ImapMailbox(mailbox=mailbox, uidvalidity=validity, last_uid=0)
            session.add(state)
        elif state.uidvalidity != validity:
            log.warning("channels.email.imap_uidvalidity_changed")
            state.uidvalidity, state.last_uid = validity, 0
        last = state.last_uid
    fetched = stored = skipped = 0
    for uid, raw in source.fetch_after(last, MAX_PER_POLL):
        if uid <= last:  # `UID n:*` answers the last message even when n is above it
            continue
        fetched += 1
        try:
            outcome = accept(hub, parse_bytes(raw))
            stored += outcome.kind == "stored"
        except (UnreadableEmail, InquiryRejected) as exc:
            # Permanent: retrying cannot help, so the mark moves on past it.
            skipped += 1
            log.warning("channels.email.imap_skipped", extra={"uid": uid,
                                                              "error": type(exc).__name__})
        with hub.db.begin() as session:
            state = session.get_one(ImapMailbox, mailbox)
            state.last_uid = max(state.last_uid, uid)
        last = uid
    return PollResult(fetched, stored, skipped, last)


class ImapToolsSource:
    """`MailSource` over a logged-in `imap_tools.MailBox` (the folder already selected)."""

    def __init__(self, mailbox: Any, folder: str) -> None:
        self.mailbox = mailbox
        self.folder = folder

    def uidvalidity(self) -> int:
        return int(self.mailbox.folder.status(self.folder, ["UIDVALIDITY"])["UIDVALIDITY"])

    def fetch_after(self, uid: int, limit: int) -> Iterator[tuple[int, bytes]]:
        from imap_tools import AND, U

        uids = self.mailbox.uids(AND(uid=U(uid + 1, "*")))
        wanted = sorted(int(u) for u in uids if int(u) > uid)[:limit]
        for one in wanted:  # one by one, in UID order, so the mark never skips a message
            for message in self.mailbox.fetch(AND(uid=str(one)), mark_seen=False):
                yield int(message.uid), message.raw


def open_source(target: ImapTarget, timeout: float = 30) -> tuple[Any, ImapToolsSource]:
    """A logged-in MailBox (caller logs out) and its source; keeps each message's raw bytes."""
    from imap_tools import MailBox, MailBoxUnencrypted, MailMessage

    class RawMailMessage(MailMessage):  # type: ignore[misc]
        def __init__(self, fetch_data: list[Any]) -> None:
            super().__init__(fetch_data)
            self.raw: bytes = self._get_message_data_parts(fetch_data)[0]

    cls = MailBox if target.tls else MailBoxUnencrypted
    box = cls(target.host, target.port, timeout=timeout)
    box.email_message_class = RawMailMessage
    box.login(target.username, target.password, initial_folder=target.folder)
    return box, ImapToolsSource(box, target.folder)
