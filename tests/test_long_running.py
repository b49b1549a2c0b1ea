"""A long-running context: many jobs leave the driver's bookkeeping and memory flat."""
import gc
import os

from ember.status import _RETAINED_JOBS


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _sizes(sc):
    return {"node infos": len(sc._node_info), "pending checkpoints": len(sc._pending_checkpoints),
            "broadcasts": len(sc._broadcast_alive)}


def test_many_tiny_jobs_keep_bookkeeping_bounded_and_memory_flat(sc):
    def job(i):
        b = sc.broadcast(i)
        assert sc.parallelize([1, 2, 3], 2).map(lambda x: x + b.value).count() == 3

    for i in range(300):  # warm up: the job history fills its ring, caches settle
        job(i)
    gc.collect()
    sizes, rss = _sizes(sc), _rss_bytes()
    for i in range(4000):
        job(i)
    gc.collect()
    after = _sizes(sc)
    for what, n in after.items():
        assert n <= sizes[what] + 2, f"{what}: {sizes[what]} after 300 jobs, {n} after 4300"
    assert len(sc._jobs.items()) <= _RETAINED_JOBS
    grown = _rss_bytes() - rss
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):  # ASan's quarantine holds freed memory
        assert grown < 16 << 20, f"driver RSS grew by {grown >> 20} MiB over 4000 jobs"
