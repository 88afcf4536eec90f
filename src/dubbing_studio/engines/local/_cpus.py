"""Thread counts that fit the CPUs this process may run on.

Left to choose, onnxruntime starts one thread per core of the machine and pins each thread to
its core, whatever the process's own affinity: a worker started with ``taskset -c 0`` still
computes on core 1, and two workers pinned to a core each both run on both. An explicit
thread count turns that pinning off, and the count is what the process was given.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

CPU_PROVIDERS = ["CPUExecutionProvider"]


def usable_cpus() -> int:
    """The CPUs this process may be scheduled on (its affinity, as ``taskset`` sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def onnx_session(
    model: str | bytes,
    providers: list[str] | None = None,
    threads: int | None = None,
    arena: bool = True,
) -> InferenceSession:
    """An onnxruntime session whose threads stay on this process's CPUs: ``threads`` of them,
    at most, or as many as there are. Without ``arena``, each run's tensors come from the heap
    and go back to it (no arena, no planned memory pattern): what a network that runs over
    long inputs needs while it runs is not kept for the rest of the process."""
    import onnxruntime

    cpus = usable_cpus()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = min(threads or cpus, cpus)
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = arena
    options.enable_mem_pattern = arena
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=providers or CPU_PROVIDERS
    )
