"""Peak memory of attention: the L×S score matrix must never exist.

For ``(B, H, L, S, E) = (1, 8, 8192, 8192, 64)`` float32 the full score
matrix would take 2 GiB; a FlashAttention-style kernel needs only tiles and
per-thread scratch. The test runs the call in a fresh subprocess and bounds
the growth of its peak resident set beyond the inputs and the output.

Marked ``slow`` (about 137 GFLOP): ``pytest benchmarks -m slow``.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from softmax_c.bench import load_softmax_c

SHAPE = (1, 8, 8192, 8192, 64)  # B, H, L, S, E
LIMIT_BYTES = 64 << 20

# Runs in the subprocess. Inputs are drawn directly in float32 (no float64
# temporaries) so the only peak after the reset is the attention call itself.
_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import softmax_c

    B, H, L, S, E = {shape}

    def proc_status(key):
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None

    def maxrss():
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r if sys.platform == "darwin" else r * 1024

    rng = np.random.default_rng(0)
    q = rng.standard_normal((B, H, L, E), dtype=np.float32)
    k = rng.standard_normal((B, H, S, E), dtype=np.float32)
    v = rng.standard_normal((B, H, S, E), dtype=np.float32)
    sdpa = softmax_c.scaled_dot_product_attention
    sdpa(q[:, :, :256], k[:, :, :256], v[:, :, :256])  # start threads, dispatch
    try:  # reset VmHWM to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    before = proc_status("VmRSS") if reset else maxrss()
    out = sdpa(q, k, v)
    after = proc_status("VmHWM") if reset else maxrss()
    print(json.dumps({{"before": before, "after": after, "out": out.nbytes,
                      "inputs": q.nbytes + k.nbytes + v.nbytes, "reset": reset}}))
""")


def _attention_available():
    lib = load_softmax_c()
    return lib is not None and hasattr(lib, "scaled_dot_product_attention")


@pytest.mark.slow
@pytest.mark.skipif(not _attention_available(),
                    reason="softmax_c.scaled_dot_product_attention is missing")
def test_attention_peak_rss_growth():
    proc = subprocess.run([sys.executable, "-c", _SCRIPT.format(shape=SHAPE)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = m["after"] - m["before"] - m["out"]
    assert growth < LIMIT_BYTES, (
        f"peak RSS grew by {growth / 2**20:.1f} MiB beyond inputs "
        f"({m['inputs'] / 2**20:.0f} MiB) and output ({m['out'] / 2**20:.0f} MiB); "
        f"limit {LIMIT_BYTES / 2**20:.0f} MiB (VmHWM reset: {m['reset']})")
