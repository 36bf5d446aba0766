"""Wall time of a set of jobs on N cores (and G GPUs): greedy list scheduling, longest path first.

Snakemake starts any job whose inputs exist while cores are free; this simulates that with the jobs'
estimated seconds, giving priority to the job with the longest chain of work after it.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Task:
    """One job to place: its seconds, the cores it holds, whether it needs a GPU, what it waits for."""

    seconds: float
    threads: int
    gpu: bool
    deps: tuple[int, ...]


def critical_path(tasks: Sequence[Task]) -> list[float]:
    """For each task, seconds of the longest chain that starts with it (itself included)."""
    children: list[list[int]] = [[] for _ in tasks]
    for i, t in enumerate(tasks):
        for d in t.deps:
            children[d].append(i)
    memo: list[float | None] = [None] * len(tasks)
    for start in range(len(tasks)):
        stack = [(start, False)]
        while stack:
            i, done = stack.pop()
            if memo[i] is not None:
                continue
            if done:
                memo[i] = tasks[i].seconds + max((memo[c] for c in children[i]), default=0.0)
                continue
            stack.append((i, True))
            stack += [(c, False) for c in children[i] if memo[c] is None]
    return [float(m) for m in memo]


def makespan(tasks: Sequence[Task], cores: int, gpus: int = 0) -> float:
    """Seconds from the first job's start to the last one's end (a job asking for more cores than
    there are gets them all, as Snakemake scales its threads down)."""
    priority = critical_path(tasks)
    waiting = [len(t.deps) for t in tasks]
    children: list[list[int]] = [[] for _ in tasks]
    for i, t in enumerate(tasks):
        for d in t.deps:
            children[d].append(i)
    ready = [(-priority[i], i) for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []
    now, free_cores, free_gpus, done = 0.0, cores, gpus, 0
    while done < len(tasks):
        held = []
        while ready:
            p, i = heapq.heappop(ready)
            t = tasks[i]
            need, gpu = min(t.threads, cores), t.gpu and gpus > 0
            if need <= free_cores and (not gpu or free_gpus > 0):
                free_cores -= need
                free_gpus -= int(gpu)
                heapq.heappush(running, (now + t.seconds, i))
            else:
                held.append((p, i))
        for item in held:
            heapq.heappush(ready, item)
        if not running:
            raise ValueError("dependency cycle or a job that can never start")
        now, i = heapq.heappop(running)
        t = tasks[i]
        free_cores += min(t.threads, cores)
        free_gpus += int(t.gpu and gpus > 0)
        done += 1
        for c in children[i]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, (-priority[c], c))
    return now
