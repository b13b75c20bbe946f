"""softmax_c: fast, accurate SIMD softmax, log-softmax, logsumexp and
flash-style attention for CPU inference.

The kernels are C++ compiled for several instruction sets; the best one this
CPU and OS support is chosen at import (``SOFTMAX_C_ISA`` forces a lower one).
See :func:`show_config`.
"""
from __future__ import annotations

import os as _os

from . import _core
from .special import expit, log_expit, log_softmax, logsumexp, softmax
from .attention import merge_attention, scaled_dot_product_attention
from .quant import QuantizedKV, quantize_kv
from .serving import flash_attn_varlen_func, flash_attn_with_kvcache
from .sampling import (SampleResult, VerifyResult, expected_calibration_error, fit_temperature, sample,
                       topk_softmax, verify_draft)
from .stats import merge_stats, softmax_stats
from ._core import get_output_cache_bytes, output_cache_info, set_output_cache_bytes, trim_output_cache

__version__ = "0.1.0"

__all__ = [
    "softmax", "log_softmax", "logsumexp", "expit", "log_expit", "scaled_dot_product_attention", "merge_attention",
    "QuantizedKV", "quantize_kv",
    "flash_attn_varlen_func", "flash_attn_with_kvcache",
    "set_num_threads", "get_num_threads", "cpu_info", "show_config",
    "SampleResult", "VerifyResult", "sample", "verify_draft", "topk_softmax", "fit_temperature",
    "expected_calibration_error",
    "softmax_stats", "merge_stats",
    "set_output_cache_bytes", "get_output_cache_bytes", "trim_output_cache", "output_cache_info",
    "__version__",
]


def _apply_env():
    isa = _os.environ.get("SOFTMAX_C_ISA", "").strip().lower()
    if not isa:
        return
    if isa not in ("scalar", "baseline", "avx2", "avx512"):
        raise ImportError(
            f"SOFTMAX_C_ISA={isa!r} is not a target name: use one of scalar, baseline, avx2, avx512")
    try:
        _core.set_target(isa)
    except ValueError as e:
        raise ImportError(f"SOFTMAX_C_ISA={isa!r}: {e}") from None


_apply_env()


def set_num_threads(n):
    """Set the number of threads the kernels may use (>= 1).

    Results are bitwise identical for any thread count: work is cut by data,
    never by thread count.  The default is the number of CPUs this process may
    run on, or ``SOFTMAX_C_NUM_THREADS``.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _core.set_num_threads(n)


def get_num_threads():
    """The number of threads the kernels may use."""
    return _core.get_num_threads()


def cpu_info():
    """What was detected and chosen, as a dict.

    Keys: ``version``, ``features`` (CPU/OS features detected),
    ``target`` (the active kernel target), ``targets_compiled``,
    ``targets_supported`` (compiled and runnable here, worst to best),
    ``num_threads``.
    """
    return {
        "version": __version__,
        "features": _core.cpu_features(),
        "target": _core.get_target(),
        "targets_compiled": _core.targets_compiled(),
        "targets_supported": _core.targets_supported(),
        "num_threads": _core.get_num_threads(),
    }


def show_config():
    """Print :func:`cpu_info` in a readable form."""
    info = cpu_info()
    print(f"softmax_c {info['version']}")
    print(f"  target chosen     : {info['target']}")
    print(f"  targets compiled  : {', '.join(info['targets_compiled'])}")
    print(f"  targets supported : {', '.join(info['targets_supported'])}")
    print(f"  cpu features      : {', '.join(info['features'])}")
    print(f"  threads           : {info['num_threads']}")
