"""Progress with the time left: every step of a build that takes more than a few seconds says how far it is and,
from its own pace so far, how long the rest should take."""

from __future__ import annotations

import time


def eta(done: float, total: float, started: float, now: float | None = None) -> str:
    """`3/10, 1 min 12 s left` from the pace of the steps done since `started` (a time.perf_counter())."""
    now = time.perf_counter() if now is None else now
    head = f"{done:g}/{total:g}"
    if done <= 0 or done >= total:
        return head if done < total else f"{head}, took {duration(now - started)}"
    return f"{head}, {duration((now - started) / done * (total - done))} left"


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m} min"
