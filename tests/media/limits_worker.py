"""A stand-in for ``dubbing_studio.media.worker`` that limits itself as the real one does,
then reports on stdout what it sees from inside: its limits, its parent, its death signal,
its math threads, its descriptors; and the process ids of the server and itself."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

from dubbing_studio.media.worker import _limit_self

_PR_GET_PDEATHSIG = 2


def main() -> None:
    request = json.loads(sys.argv[1])
    _limit_self(request["memory_bytes"], request["cpu_s"], request["parent"])
    death_signal = ctypes.c_int(0)
    ctypes.CDLL(None, use_errno=True).prctl(_PR_GET_PDEATHSIG, ctypes.byref(death_signal))
    seen = {
        "address_space": resource.getrlimit(resource.RLIMIT_AS),
        "cpu": resource.getrlimit(resource.RLIMIT_CPU),
        "core": resource.getrlimit(resource.RLIMIT_CORE),
        "death_signal": death_signal.value,
        "parent": os.getppid(),
        "pid": os.getpid(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "descriptors": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    }
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
