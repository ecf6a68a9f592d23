"""Attachment storage behind a small interface: content-addressed local files by default, so
that object storage can replace it without touching the callers.

Keys are the SHA-256 of the content: storing the same bytes twice (a replayed webhook) writes
nothing new, and a key can never point at other content. Files live outside the web root and
are served only through the API to signed-in staff.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class AttachmentStore(Protocol):
    def put(self, content: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class StorageError(LookupError):
    pass


class LocalStore:
    """Files under `root/ab/cd/<sha256>`, written atomically (temp file + rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise StorageError("not a storage key")
        return self.root / key[:2] / key[2:4] / key

    def put(self, content: bytes) -> str:
        key = hashlib.sha256(content).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no stored content {key[:12]}…") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
