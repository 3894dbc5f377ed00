"""Receiving a model pack from the browser, straight to disk, a chunk at a time.

A pack is a folder (``manifest.toml`` and the model files). The teacher picks
the folder, or its files, in one ``<input type="file" multiple>``; the browser
sends them as one multipart body. Starlette's own form parser would spool every
file to ``/tmp`` first, often RAM on a Pi, so this module drives
``python-multipart``'s streaming parser itself and writes each file where the
import will read it.

Two rules make the stream safe to accept:

- the CSRF token must come *before* any file (the page's form puts it first),
  so a forged request is refused before a single byte reaches the disk;
- only plain file names are written (no folders, no ``..``, no hidden files),
  each at most once, and never over an existing file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

from appliance.web.modelstore import ImportJob
from appliance.web.sessions import Session

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
DISK_RESERVE = 64 * 1024 * 1024  # what an upload always leaves free for the rest of the box
CHECK_EVERY = 1024 * 1024  # a chunked body has no length: free space is checked as it comes
MAX_FILES = 16
MAX_FIELD_BYTES = 256


class _PackReceiver:
    """Callbacks for the multipart parser: the CSRF field first, then the files."""

    def __init__(self, session: Session, target: Path) -> None:
        self.session = session
        self.target = target
        self.csrf_ok = False
        self.files: list[str] = []
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._field: bytearray | None = None
        self._field_name = ""
        self._file: BinaryIO | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_part,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._field = None
        self._file = None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            self._field, self._field_name = bytearray(), name
            return
        if not self.csrf_ok:
            raise HTTPException(403, "This form has expired. Reload the page and try again.")
        # Folder uploads send "folder/file"; only the last part is ever used.
        plain = re.split(r"[/\\]", filename.decode("utf-8", "replace"))[-1]
        if not plain or plain.startswith("."):
            return  # no file chosen, or .DS_Store and friends: skip
        if not PLAIN_NAME.fullmatch(plain):
            raise HTTPException(400, f"{plain[:60]!r} is not a model pack file name.")
        if plain in self.files:
            raise HTTPException(400, f"{plain} was sent twice.")
        if len(self.files) >= MAX_FILES:
            raise HTTPException(400, f"A model pack has at most {MAX_FILES} files.")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        self._file = os.fdopen(os.open(self.target / plain, flags, 0o644), "wb")
        self.files.append(plain)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
        elif self._field is not None:
            self._field += data[start:end]
            if len(self._field) > MAX_FIELD_BYTES:
                raise HTTPException(400, "A form field is too long.")

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        elif self._field is not None and self._field_name == "csrf":
            self.csrf_ok = self.session.csrf_matches(self._field.decode("utf-8", "replace"))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def receive_pack(request: Request, session: Session, target: Path, job: ImportJob) -> None:
    """Stream the uploaded pack's files into the empty directory ``target``.

    Raises :class:`HTTPException`: 403 without a valid CSRF token before the
    files, 400 for a body that is not a pack, 507 when the disk is too full.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise HTTPException(400, "Send the model pack with the upload form.")
    declared = int(request.headers.get("content-length", "0") or 0)
    free = _free_bytes(target)
    if declared and declared > free - DISK_RESERVE:
        raise HTTPException(507, f"Not enough free disk space: {free // 10**6} MB free.")
    receiver = _PackReceiver(session, target)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    job.step, job.done, job.total = "uploading", 0, declared
    unchecked = 0
    try:
        async for chunk in request.stream():
            await run_in_threadpool(parser.write, chunk)
            job.done += len(chunk)
            unchecked += len(chunk)
            if not declared and unchecked >= CHECK_EVERY:
                unchecked = 0
                if (free := _free_bytes(target)) < DISK_RESERVE:
                    raise HTTPException(
                        507, f"Not enough free disk space: {free // 10**6} MB free."
                    )
        parser.finalize()
    finally:
        receiver.close()
    if not receiver.csrf_ok:
        raise HTTPException(403, "This form has expired. Reload the page and try again.")
    if "manifest.toml" not in receiver.files:
        raise HTTPException(400, "That is not a model pack: it has no manifest.toml.")


def _free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize
