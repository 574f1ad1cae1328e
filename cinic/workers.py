"""Work spread over worker processes, results in order: one helper for every parallel map.

Decoding, augmenting and writing images are Python-heavy per image, so threads
gain nothing (the GIL); processes do. They are spawned, not forked: the caller
may be a threaded server (the app) or hold torch's thread pools, and forking
such a process can deadlock the child. Tasks and results must be picklable
(plain data and arrays, never closures).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger(__name__)


def usable_cores() -> int:
    """Cores this process may run on (its affinity), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def map_in_processes(work: Callable[[Any], Any], tasks: Sequence[Any], workers: int, *,
                     on_result: Callable[[int, Any], None] | None = None,
                     initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> list:
    """`[work(task) for task in tasks]`, in `workers` spawned processes (1: in this process).

    `on_result(index, result)` is called as each task finishes (for progress),
    in completion order. `initializer(*initargs)` runs once in each worker (and
    in this process when serial), for data every task shares. Where worker
    processes cannot start (no /dev/shm in a sandbox), the work runs here instead.
    """
    workers = max(1, min(int(workers), len(tasks)))
    if workers > 1:
        try:
            return _in_pool(work, tasks, workers, on_result, initializer, initargs)
        except (BrokenProcessPool, OSError) as error:
            log.warning("worker processes failed (%s); working in this process instead", error)
    if initializer is not None:
        initializer(*initargs)
    results = []
    for index, task in enumerate(tasks):
        results.append(work(task))
        if on_result is not None:
            on_result(index, results[-1])
    return results


def _in_pool(work, tasks, workers, on_result, initializer, initargs) -> list:
    results: list = [None] * len(tasks)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer,
                             initargs=initargs) as pool:
        futures = {pool.submit(work, task): index for index, task in enumerate(tasks)}
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            if on_result is not None:
                on_result(index, results[index])
    return results
