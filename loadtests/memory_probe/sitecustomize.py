"""Memory probe for a hub's workers (load tests only, never shipped).

Put this directory on PYTHONPATH with MEMORY_PROBE_DIR=/some/dir: each Python process then installs a SIGUSR2
handler that writes its resident memory, gc object counts by type and its largest containers to
MEMORY_PROBE_DIR/<pid>-<n>.txt. With MEMORY_PROBE_TRACE=1 the first dump starts tracemalloc (a traced start-up
is too slow) and the later ones list the allocation sites grown since. With a file MEMORY_PROBE_DIR/trim present,
each dump then calls malloc_trim(0) and records the resident memory again (how much was free heap glibc kept).
"""

import os

if os.environ.get("MEMORY_PROBE_DIR"):
    import collections
    import gc
    import signal
    import tracemalloc

    _state: dict = {"n": 0, "first": None}

    def _rss_kib() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _dump(signum, frame) -> None:
        gc.collect()
        _state["n"] += 1
        lines = [f"rss_kib {_rss_kib()}"]
        counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
        lines.append("objects " + str(sum(counts.values())))
        lines += [f"  {count:>9} {name}" for name, count in counts.most_common(40)]
        big = sorted(
            ((len(o), type(o).__name__) for o in gc.get_objects() if isinstance(o, (dict, list, set)) and len(o) > 500),
            reverse=True,
        )[:20]
        lines.append("largest containers")
        lines += [f"  {size:>9} {name}" for size, name in big]
        if not tracemalloc.is_tracing() and os.environ.get("MEMORY_PROBE_TRACE"):
            tracemalloc.start()  # from the first dump on (after warm-up): a traced start-up is too slow
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            lines.append(f"traced_mib {sum(s.size for s in snap.statistics('filename')) / 2**20:.1f}")
            if _state["first"] is None:
                _state["first"] = snap
            else:
                lines.append("grown since first dump (by line)")
                for stat in snap.compare_to(_state["first"], "lineno")[:40]:
                    lines.append(f"  {stat.size_diff / 1024:>9.1f} KiB {stat.count_diff:>7} {stat.traceback}")
        if tracemalloc.is_tracing():
            lines.append(f"tracemalloc_own_mib {tracemalloc.get_tracemalloc_memory() / 2**20:.1f}")
        if os.path.exists(os.path.join(os.environ["MEMORY_PROBE_DIR"], "trim")):  # free heap glibc kept?
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
            lines.append(f"rss_kib_after_malloc_trim {_rss_kib()}")
        path = os.path.join(os.environ["MEMORY_PROBE_DIR"], f"{os.getpid()}-{_state['n']}.txt")
        with open(path, "w") as out:
            out.write("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR2, _dump)
