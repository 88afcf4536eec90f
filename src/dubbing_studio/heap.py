"""The C heap of a process that runs models on threads (glibc's malloc).

glibc gives each new thread an arena of its own on its first allocation, up to eight per core,
and what a thread frees mostly stays in its arena for the next allocation there: the pool
threads that load and run the models (CTranslate2, onnxruntime, NumPy) each keep a peak's
worth. On 2 cores, default CLI dubs of 62 s peaked at 876-941 MB (en->en) and 983-1016 MB
(en->es) with glibc's arenas, at 757-844 MB and 893-895 MB with one per core, no slower (4
and 2 interleaved pairs).
"""

from __future__ import annotations

import ctypes
import os

_M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)


def limit_arenas(count: int) -> bool:
    """At most ``count`` arenas from now on (threads started later share them); False where
    the C library is not glibc or the user chose (``MALLOC_ARENA_MAX``, ``GLIBC_TUNABLES``).
    It changes malloc for the whole process, and only before its threads have made nine
    arenas: glibc fixes its limit then (the shells build the studio before any engine runs)."""
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    libc = _glibc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, max(1, count)) == 1


def release_free_memory() -> None:
    """Hands the heap's free pages back to the system (``malloc_trim``): after a big
    transient, freed memory glibc would otherwise keep for the rest of the process."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):  # not glibc
        return None
    return libc
