"""Speed goals of softmax_c.dask (issue 14), on a LocalCluster.

    python benchmarks/dask_speed.py [--rows 16384] [--cols 32000] [--chunks 4096 8000]
                                    [--workers 2] [--threads 1] [--repeat 3]
                                    [--persist | --generate] [--memory-limit 9GiB]
                                    [--scheduler tcp://host:8786]

The float32 array is generated on the workers (``da.random``: a seeded
generator per block).  With ``--persist`` (the default) it is generated once,
persisted in the workers' memory and waited for, so every contender reads the
same in-memory chunks: the kernels' rate (the issue's 8 GiB case:
``--rows 65536 --persist``, 4 GiB per worker of 2).  With ``--generate`` it is
not persisted: every run regenerates each block inside the task that needs it
(nothing of that size is ever held, but generating a block costs ~40x summing
it, so those runs mostly time the generator).  Each contender is checked
against softmax_c's result in an untimed first run.  Reported: seconds
(median of --repeat, the contenders interleaved A, B, C, ..., A, B, C, ...),
GB/s of input read, the peak worker memory of each contender, and the ratios
of the goals:

* logsumexp over the last axis vs scipy.special.logsumexp on the Dask array
  (array API, ``SCIPY_ARRAY_API=1``), vs the plain Dask recipe (max, exp,
  sum, log), and as a fraction of ``x.sum(axis=-1)``'s rate (the read-once
  floor);
* softmax reduced to a checksum per row (nothing gathered) vs scipy's
  softmax on Dask.

Peak worker memory: before each contender's checked run every worker resets
its kernel high-water mark (``/proc/self/clear_refs``, Linux) and records its
RSS; after it, the worker's peak RSS (``VmHWM``) minus that baseline is
printed (the largest over the workers, in GB and in chunks): persisted, the
memory above the persisted blocks.  Where the reset is not allowed, a fresh
worker (``client.restart()``, generated runs only) or the peak since the
worker started is used instead, and the line says so.  The LocalCluster gets
``--memory-limit`` per worker with spilling to disk off (a spilled block
would be timed as disk reads) and pausing at 95%.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # scipy.special on Dask arrays, not np.asarray

import numpy as np  # noqa: E402


def _reset_peak():  # in a worker: reset its peak RSS to the current RSS; returns (RSS bytes, reset done)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        done = True
    except OSError:
        done = False
    return _status_kib("VmRSS") * 1024, done


def _peak():  # in a worker: its peak RSS since the last reset (or since it started), bytes
    return _status_kib("VmHWM") * 1024


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=16384)
    ap.add_argument("--cols", type=int, default=32000)
    ap.add_argument("--chunks", type=int, nargs=2, default=(4096, 8000))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--persist", action="store_true",
                      help="generate the array once and persist it on the workers (the default)")
    mode.add_argument("--generate", action="store_true", help="regenerate the blocks in every run (no persist)")
    ap.add_argument("--memory-limit", default="9GiB", help="per LocalCluster worker (default 9GiB)")
    ap.add_argument("--scheduler", default=None, help="address of a running cluster (default: a LocalCluster)")
    a = ap.parse_args()

    import dask
    import dask.array as da
    import scipy.special as ss
    from distributed import Client, LocalCluster, wait

    import softmax_c.dask as scd

    if a.scheduler:
        client = Client(a.scheduler)
    else:
        # no spilling (a spilled block would be timed as a disk read), pause late, never kill
        dask.config.set({"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                         "distributed.worker.memory.pause": 0.95, "distributed.worker.memory.terminate": False})
        client = Client(LocalCluster(n_workers=a.workers, threads_per_worker=a.threads, processes=True,
                                     memory_limit=a.memory_limit, dashboard_address=None))
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    x = da.random.default_rng(0).standard_normal((a.rows, a.cols), chunks=tuple(a.chunks),
                                                 dtype=np.float32) * 4
    if not a.generate:
        t0 = time.perf_counter()
        x = x.persist()
        wait(x)
        t_persist = time.perf_counter() - t0
    gb = x.nbytes / 1e9
    chunk_gb = np.prod(x.chunksize) * 4 / 1e9
    held = ""
    limit = "the cluster's" if a.scheduler else a.memory_limit
    if not a.generate:
        rss = client.run(lambda: _status_kib("VmRSS") * 1024)
        held = (f"; generated and persisted in {t_persist:.1f} s, worker RSS "
                + ", ".join(f"{v / 1e9:.2f}" for v in rss.values()) + " GB")
    print(f"x: {x.shape} float32 = {gb:.2f} GB, chunks {x.chunksize} ({chunk_gb:.3f} GB), {x.npartitions} chunks, "
          f"{'generated in every run' if a.generate else 'persisted'}; {a.workers} workers x {a.threads} threads, "
          f"memory limit {limit}; {os.cpu_count()} CPUs{held}",
          flush=True)

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
    mems, chunks_above = {}, {}
    for name, make in contenders.items():  # check each (untimed) and measure its peak worker memory
        base = client.run(_reset_peak)
        reset = all(done for _, done in base.values())
        how = "above the RSS before it"
        if not reset and a.generate:
            client.restart()
            base = client.run(_reset_peak)
            how = "above a fresh worker"
        elif not reset:
            how = "peak since start, above the RSS before it (reset not allowed)"
        r = make().compute()
        if "logsumexp" in name or "recipe" in name:
            assert np.allclose(r, ours, rtol=1e-5, atol=1e-4), name
        elif "softmax" in name:
            assert np.allclose(r, 1.0, atol=1e-4), name
        mem = max(peak - base[w][0] for w, peak in client.run(_peak).items()) / 1e9
        chunks_above[name] = mem / chunk_gb
        mems[name] = f"peak worker RSS +{mem:5.2f} GB = {mem / chunk_gb:4.1f} chunks ({how})"
        print(f"  checked {name}: {mems[name]}", flush=True)
    times = {name: [] for name in contenders}
    for _ in range(a.repeat):  # interleaved: A, B, C, ..., A, B, C, ...; medians
        for name, make in contenders.items():
            t0 = time.perf_counter()
            make().compute()
            times[name].append(time.perf_counter() - t0)
    best = {name: float(np.median(ts)) for name, ts in times.items()}
    for name in contenders:
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {name:38s} {best[name]:8.3f} s  {gb / best[name]:6.2f} GB/s  [{runs}]  {mems[name]}", flush=True)
    lse_mem = chunks_above["softmax_c.dask.logsumexp"]
    goals = [  # (label, slower contender, ours, goal)
        ("logsumexp vs scipy on Dask", "scipy.special.logsumexp", "softmax_c.dask.logsumexp", 2),
        ("logsumexp vs plain Dask recipe", "dask recipe (max, exp, sum, log)", "softmax_c.dask.logsumexp", 2),
        ("logsumexp rate / x.sum rate", "x.sum(axis=-1)", "softmax_c.dask.logsumexp", 0.7),
        ("softmax vs scipy softmax", "scipy.special.softmax -> row sums", "softmax_c.dask.softmax -> row sums", 2),
    ]
    print("goals (ratios of the median times; in brackets the median of the ratios of the runs paired in order):")
    for label, other, mine, goal in goals:
        v = best[other] / best[mine]
        paired = float(np.median([t / u for t, u in zip(times[other], times[mine])]))
        print(f"  {label:32s} {v:6.2f}x [{paired:5.2f}x]  (goal >= {goal}: {'met' if v >= goal else 'NOT met'})")
    print(f"  {'logsumexp peak worker memory':32s} {lse_mem:6.1f} chunks above the baseline "
          f"(goal <= 4: {'met' if lse_mem <= 4 else 'NOT met'})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    client.close()


if __name__ == "__main__":
    main()
