"""Benchmark suite of softmax_c (the implementation behind :mod:`softmax_c.bench`).

Modules, one idea each:

``cases``   the one list of benchmark cases (CLI and ``benchmarks/`` share it)
``ops``     what each operation is: inputs, oracle, work, per-library adapters
``impls``   the libraries compared: availability, versions, thread pinning
``check``   tolerances and the comparison with the float64 oracle
``timing``  medians with adaptive repeats
``limits``  each case's limit: traffic, exp rate, FMA peak, measured in the run
``runner``  set-up → check → time, per case and implementation
``report``  header, tables, summary, JSON, plot
``cli``     ``python -m softmax_c bench``

Nothing here imports the compiled core at import time: softmax_c's functions
are looked up when a case runs, and its rows are skipped while it is not built.
"""
