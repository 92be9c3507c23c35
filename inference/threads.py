"""How many torch threads each decoding thread gets.

Each thread that runs a torch op brings its own team of `torch.get_num_threads()`
workers, and torch's default is one per core: two decode threads would then run
four spinning workers on two cores, and under load every decode takes several
times longer. Giving each thread its share keeps the total at the core count.
"""

from __future__ import annotations

import os

import torch


def threads_per_decoder(decoders: int, override: int = 0) -> int:
    """Each of `decoders` threads' share of this process's cores (or `override`)."""
    if override:
        return int(override)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, decoders))


def share_cores(decoders: int, override: int = 0) -> int:
    """Set torch's intra-op threads for `decoders` decoding threads; returns the count."""
    threads = threads_per_decoder(decoders, override)
    torch.set_num_threads(threads)
    return threads
