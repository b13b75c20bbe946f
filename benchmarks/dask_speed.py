"""Speed goals of softmax_c.dask (issue 14), on a LocalCluster.

    python benchmarks/dask_speed.py [--rows 16384] [--cols 32000] [--chunks 4096 8000]
                                    [--workers 2] [--threads 1] [--repeat 3]
                                    [--generate] [--scheduler tcp://host:8786]

The float32 array is generated on the workers (``da.random``: a seeded
generator per block).  By default it is persisted there, so every contender
reads the same in-memory chunks (the kernels' rate); with ``--generate`` it
is not, every run regenerates each block inside the task that needs it (the
issue's 8 GiB case: ``--rows 65536 --generate``; nothing of that size is ever
held).  Each contender is checked against softmax_c's result before it is
timed.  Reported: seconds (median of --repeat, the contenders interleaved),
GB/s of input read, and the
ratios of the goals:

* logsumexp over the last axis vs scipy.special.logsumexp on the Dask array
  (array API, ``SCIPY_ARRAY_API=1``), vs the plain Dask recipe (max, exp,
  sum, log), and as a fraction of ``x.sum(axis=-1)``'s rate (the read-once
  floor);
* softmax reduced to a checksum per row (nothing gathered) vs scipy's
  softmax on Dask.

Peak worker memory: with ``--generate`` the workers are restarted before
each contender and report ``resource.getrusage`` (``ru_maxrss``, the peak
RSS of the process) after it, printed minus the fresh worker's RSS and in
chunks; persisted, the largest worker RSS the scheduler sampled after the
runs (coarse: it includes the persisted array).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # scipy.special on Dask arrays, not np.asarray

import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=16384)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--chunks", type=int, nargs=2, default=(4096, 8000))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--generate", action="store_true", help="regenerate the blocks in every run (no persist)")
    ap.add_argument("--scheduler", default=None, help="address of a running cluster (default: a LocalCluster)")
    a = ap.parse_args()

    import dask.array as da
    import scipy.special as ss
    from distributed import Client, LocalCluster, wait

    import softmax_c.dask as scd

    if a.scheduler:
        client = Client(a.scheduler)
    else:
        client = Client(LocalCluster(n_workers=a.workers, threads_per_worker=a.threads, processes=True,
                                     dashboard_address=None))
    x = da.random.default_rng(0).standard_normal((a.rows, a.cols), chunks=tuple(a.chunks),
                                                 dtype=np.float32) * 4
    if not a.generate:
        x = x.persist()
        wait(x)
    gb = x.nbytes / 1e9
    chunk_gb = np.prod(x.chunksize) * 4 / 1e9

    def peak_rss():  # in the worker: its process's peak RSS (bytes; ru_maxrss is KiB on Linux)
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"x: {x.shape} float32 = {gb:.2f} GB, chunks {x.chunksize} ({chunk_gb:.3f} GB), {x.npartitions} chunks, "
          f"{'generated in every run' if a.generate else 'persisted'}; {a.workers} workers x {a.threads} threads; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")

    def recipe(x):
        m = x.max(axis=-1, keepdims=True)
        return da.log(da.exp(x - m).sum(axis=-1)) + m[:, 0]

    ours = scd.logsumexp(x, -1).compute()
    contenders = {
        "x.sum(axis=-1)": lambda: x.sum(axis=-1),
        "softmax_c.dask.logsumexp": lambda: scd.logsumexp(x, -1),
        "scipy.special.logsumexp": lambda: ss.logsumexp(x, axis=-1),
        "dask recipe (max, exp, sum, log)": lambda: recipe(x),
        "softmax_c.dask.softmax -> row sums": lambda: scd.softmax(x, -1).sum(axis=-1),
        "scipy.special.softmax -> row sums": lambda: ss.softmax(x, axis=-1).sum(axis=-1),
    }
    mems = {}
    for name, make in contenders.items():  # check each (and, generated, its peak memory)
        if a.generate:
            client.restart()
            base = max(client.run(peak_rss).values())
        r = make().compute()
        if "logsumexp" in name or "recipe" in name:
            assert np.allclose(r, ours, rtol=1e-5, atol=1e-4), name
        elif "softmax" in name:
            assert np.allclose(r, 1.0, atol=1e-4), name
        if a.generate:
            mem = (max(client.run(peak_rss).values()) - base) / 1e9
            mems[name] = f"peak worker RSS +{mem:5.2f} GB = {mem / chunk_gb:4.1f} chunks"
        else:
            mem = max(w["metrics"]["memory"] for w in client.scheduler_info()["workers"].values()) / 1e9
            mems[name] = f"worker RSS {mem:5.2f} GB"
    times = {name: [] for name in contenders}
    for _ in range(a.repeat):  # interleaved: A, B, C, ..., A, B, C, ...; medians
        for name, make in contenders.items():
            t0 = time.perf_counter()
            make().compute()
            times[name].append(time.perf_counter() - t0)
    best = {name: float(np.median(ts)) for name, ts in times.items()}
    for name in contenders:
        print(f"  {name:38s} {best[name]:8.3f} s  {gb / best[name]:6.2f} GB/s  {mems[name]}", flush=True)
    lse = best["softmax_c.dask.logsumexp"]
    print("goals (ratios of times):")
    print(f"  logsumexp vs scipy on Dask      {best['scipy.special.logsumexp'] / lse:6.2f}x  (goal >= 2)")
    print(f"  logsumexp vs plain Dask recipe  {best['dask recipe (max, exp, sum, log)'] / lse:6.2f}x  (goal >= 2)")
    print(f"  logsumexp rate / x.sum rate     {best['x.sum(axis=-1)'] / lse:6.2f}x  (goal >= 0.7)")
    sm = best["softmax_c.dask.softmax -> row sums"]
    print(f"  softmax vs scipy softmax        {best['scipy.special.softmax -> row sums'] / sm:6.2f}x  (goal >= 2)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    client.close()


if __name__ == "__main__":
    main()
