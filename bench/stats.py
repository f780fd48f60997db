"""Statistics the scenarios report: percentiles, summaries, slopes, CPU use."""

import math
import os
import resource
import time


def percentile(sorted_values, p):
    """The p-th percentile (0..100) of already sorted values, linear interpolation
    between closest ranks (numpy's default); None for no values."""
    n = len(sorted_values)
    if n == 0:
        return None
    if not 0 <= p <= 100:
        raise ValueError("p must be within 0..100")
    rank = (n - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    frac = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * frac


def summarize(values, scale=1.0, digits=2):
    """{n, p50, p95, p99, max, mean} of values, each multiplied by `scale`."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}

    def r(x):
        return round(x * scale, digits)

    return {
        "n": len(ordered),
        "p50": r(percentile(ordered, 50)),
        "p95": r(percentile(ordered, 95)),
        "p99": r(percentile(ordered, 99)),
        "max": r(ordered[-1]),
        "mean": r(sum(ordered) / len(ordered)),
    }


def slope(xs, ys):
    """Least-squares slope of ys against xs; None with fewer than two distinct xs."""
    n = len(xs)
    if n < 2:
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def delivery_counts(counts, receivers, seqs):
    """(lost, duplicated) for the messages `seqs` in a receivers-wide count table.

    `counts` is a bytearray with one byte per (seq, receiver): index
    seq * receivers + r holds how many times receiver r got message seq.
    """
    lost = dup = 0
    for seq in seqs:
        row = counts[seq * receivers : (seq + 1) * receivers]
        zeros = row.count(0)
        lost += zeros
        dup += sum(row) - (receivers - zeros)
    return lost, dup


class CpuMeter:
    """CPU seconds this process used over an interval, as a share of one core."""

    def __init__(self):
        self.start()

    def start(self):
        self._wall = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._cpu = usage.ru_utime + usage.ru_stime

    def read(self):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic() - self._wall
        cpu = usage.ru_utime + usage.ru_stime - self._cpu
        return {
            "cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2),
            "cores": round(cpu / wall, 3) if wall > 0 else None,
        }


def machine_load():
    """The 1-minute load average and the core count, for the record."""
    return {"loadavg_1m": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}
