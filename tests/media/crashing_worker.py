"""A stand-in for ``dubbing_studio.media.worker`` that fails the way native code can: the
input file's name says how (``segfault``, ``abort``, ``spin``, ``hang``, ``babble``)."""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time
from pathlib import Path

from dubbing_studio.media.worker import _limit_self


def main() -> None:
    request = json.loads(sys.argv[1])
    _limit_self(request["memory_bytes"], request["cpu_s"], request["parent"])
    if "out" in request:
        Path(request["out"]).write_bytes(b"half-written")
    how = Path(request["path"]).stem
    if how == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif how == "abort":
        os.abort()
    elif how == "spin":
        while True:  # until RLIMIT_CPU sends SIGXCPU
            pass
    elif how == "hang":
        time.sleep(3600)  # until the parent's wall-clock timeout
    elif how == "babble":
        print("not json")


if __name__ == "__main__":
    main()
