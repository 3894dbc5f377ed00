"""Keeping a small box's memory small.

glibc gives each thread that allocates its own malloc arena, and keeps freed
memory inside them. Parlo's turns run on several short-lived threads (VAD,
the voice, a transcription guessed during a pause), so without limits the
process keeps growing by each turn's leftovers. Two calls fix that: a cap on
arenas at start-up, and handing freed memory back after every turn.

Both are no-ops where glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's malloc.h


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _libc()


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Share ``arenas`` malloc arenas among all threads. Call before starting threads."""
    if _LIBC is not None and _LIBC.mallopt(M_ARENA_MAX, arenas) != 1:
        log.debug("mallopt(M_ARENA_MAX) was refused")


def release_free_memory() -> None:
    """Give memory that has been freed back to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
