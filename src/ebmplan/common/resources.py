"""Memory: what the machine can give, and one clear sentence, before a run starts, when a config needs more.

Each training config estimates the bytes its run needs at its peak (`memory_needed()`, within a factor of
about 2) and calls `check_memory` from its `validate()`, so a config that cannot fit is refused with exit
code 2 before any run folder exists, instead of ending in the allocator's traceback or the kernel's kill.
"""

from __future__ import annotations

import ctypes
import os

import torch

from .errors import ConfigError

FLOAT = 4  # bytes of a float32
RUNTIME = 100 * 10**6  # code and buffers the libraries touch on first use (autograd, Adam): ~80 MB measured
# `plan eval`, per pair of nodes of a graph being built (docs/results/memory.md): a per-episode graph (cvae, ebm, route)
# holds the pairs' coordinates, indices, the agent's batch and distances (counted from the arrays; 21 episodes of
# 1000 nodes peak at 1.9 GB in all); a shared graph (uniform, replay, sgm) the agent's pairwise distances and the
# cutoff's masks (1.4 GB above the base measured at 10000 nodes).
EPISODE_PAIR_BYTES = 100
SHARED_PAIR_BYTES = 16


def available_memory(device: str | torch.device = "cpu") -> int | None:
    """Bytes the machine can give now: MemAvailable of /proc/meminfo (Linux), else the free physical pages;
    for a CUDA device, its free memory. None when unknown, which means no check."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return torch.cuda.mem_get_info(device)[0]
        except (RuntimeError, AssertionError):  # no driver or no such device: resolve_device says so
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every system names these
        return None


def check_memory(need_bytes: int, what: str, hint: str, *, device: str | torch.device = "cpu") -> None:
    """Raise a ConfigError if `what` needs more than `available_memory(device)`, e.g. "training a width-10000
    network needs about 120 GB of memory and this machine has 22 GB available; use a smaller --width"."""
    available = available_memory(device)
    if available is not None and need_bytes > available:
        where = "this machine" if torch.device(device).type == "cpu" else f"the GPU ({device})"
        raise ConfigError(f"{what} needs about {format_bytes(need_bytes)} of memory and {where} has "
                          f"{format_bytes(available)} available; {hint}")


def format_bytes(n: float) -> str:
    """'560 MB', '3.2 GB', '480 PB': decimal units, two significant digits at least."""
    units = ("MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    value, unit = n / 1e6, 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1000, unit + 1
    return f"{value:.1f} {units[unit]}" if value < 10 else f"{value:.0f} {units[unit]}"


def episodes_per_chunk(nodes: int, episodes: int, max_memory: float) -> int:
    """Episodes whose per-episode graphs of `nodes` nodes are built together within `max_memory` GB (at least
    one): `plan eval`'s chunks."""
    return max(1, min(episodes, int(max_memory * 2**30 // (EPISODE_PAIR_BYTES * nodes * nodes))))


M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>


def return_freed_memory() -> None:
    """Have the C allocator hand every freed block of 64 KiB or more back to the system at once.

    glibc's default threshold for that rises with the largest block freed (up to 32 MiB), so after a first chunk
    of planning graphs the next chunks' arrays are carved from a heap that never shrinks, and `plan eval`'s peak
    grows with its number of chunks (3.2 GB after 10 chunks of 1000 nodes against 1.9 GB for one, the same with
    this setting: docs/results/memory.md). Nothing changes where the C library is not glibc."""
    try:  # the process's own symbols, the C library's among them: no search for the library's file
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 64 * 1024)
    except (OSError, AttributeError):
        pass


def mlp_params(inputs: int, width: int, depth: int, outputs: int = 1) -> int:
    """Weights and biases of an MLP with `depth` hidden layers of `width` units."""
    return (inputs + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * outputs


def network_bytes(params: int, width: int, depth: int, *, train_rows: int, forward_rows: int = 0,
                  chain_rows: int = 0, copies: int = 6, other_peak: int = 0) -> int:
    """float32 bytes of training and using networks of `depth` hidden layers of `width` units: the
    parameters `copies` times (by default weights, gradients, Adam's two moments, the frozen copy that
    inference descends with, and one for saving), plus the largest of these passing peaks, which never
    coexist (the allocator hands each back before the next):

    - per row of a training step (positives and negatives together), each hidden layer's pre-activation and
      activation kept for the backward pass, plus two layers of gradients flowing back;
    - per row of the largest forward pass without gradients (an energy grid, a hard-negative pool), two
      layers alive at a time;
    - per inference chain descended at once, depth + 2 layers (the hand-derived input gradient keeps every
      pre-activation);
    - `other_peak` bytes of anything else (an evaluation's kernel matrices, a data set being made).
    """
    rows = max(train_rows * (2 * depth + 2), forward_rows * 2, chain_rows * (depth + 2))
    return FLOAT * copies * params + max(FLOAT * width * rows, other_peak)


def chains_at_once(chains: int, width: int, device: torch.device) -> int:
    """How many inference chains the hand-derived gradient of an MLP energy (`input_gradient_fn`) takes at
    once: on a CPU it goes through them in blocks of max(256, 2**16 // width); a GPU takes them all."""
    return chains if device.type == "cuda" else min(chains, max(256, 2**16 // width))
