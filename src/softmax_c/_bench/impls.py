"""The implementations compared: softmax_c, the NumPy baseline and peers.

An :class:`Impl` knows how to import its library (lazily: nothing here needs
the compiled core at import time), its version, how to pin its thread count
and how to install it. What it computes for each operation lives in
:mod:`softmax_c._bench.ops`.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

__all__ = ["Impl", "IMPLS", "LIBRARY", "BASELINE", "get_impl", "load_softmax_c", "try_import",
           "softmax_c_threads", "torch_threads", "blas_threads", "numpy_threads_note", "np_dtype"]

LIBRARY = "softmax_c"
BASELINE = "numpy"


def try_import(name: str):
    """Import module ``name``; None when it (or what it needs) is missing."""
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install raising anything
        return None


def load_softmax_c():
    """Return the softmax_c package if its compiled functions are usable.

    Returns
    -------
    module or None
        None while the extension is not built (only the pure-Python parts of
        the package are importable then).
    """
    mod = try_import("softmax_c")
    if mod is None or not callable(getattr(mod, "softmax", None)):
        return None
    return mod


@contextlib.contextmanager
def softmax_c_threads(n: int):
    mod = load_softmax_c()
    get = getattr(mod, "get_num_threads", None)
    put = getattr(mod, "set_num_threads", None)
    if get is None or put is None:
        yield
        return
    old = get()
    put(n)
    try:
        yield
    finally:
        put(old)


@contextlib.contextmanager
def torch_threads(n: int):
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def blas_threads(n: int):
    """Pin NumPy's BLAS threads (matmul in the attention baseline)."""
    tpc = try_import("threadpoolctl")
    if tpc is None:
        yield
        return
    with tpc.threadpool_limits(limits=n, user_api="blas"):
        yield


@contextlib.contextmanager
def _no_threads(n: int):
    yield


@dataclass(frozen=True)
class Impl:
    """One implementation under test.

    Parameters
    ----------
    name : str
        Column label and key in :data:`softmax_c._bench.ops` adapters.
    modules : tuple of str
        Modules that must import for the implementation to be available.
    install : str
        How to add it, printed when it is missing.
    threads : callable
        ``threads(n)`` returns a context manager pinning its thread count.
    version_module : str, optional
        Module whose ``__version__`` is reported (default: ``modules[0]``).
    """

    name: str
    modules: tuple
    install: str
    threads: Callable = _no_threads
    version_module: Optional[str] = None

    def available(self) -> bool:
        """True when every module imports (softmax_c: when it is built)."""
        if self.name == LIBRARY:
            return load_softmax_c() is not None
        return all(try_import(m) is not None for m in self.modules)

    def version(self) -> Optional[str]:
        """The library version, or None when unavailable."""
        mod = try_import(self.version_module or self.modules[0])
        return getattr(mod, "__version__", None) if mod is not None else None


_PEERS_HINT = 'pip install "softmax_c[bench]"  or  pip install torch onnxruntime onnx'

#: Implementations in table order: the library, the baseline, then peers.
IMPLS = (
    Impl(LIBRARY, ("softmax_c",), "build softmax_c: pip install .", softmax_c_threads),
    Impl(BASELINE, ("numpy",), "pip install numpy", blas_threads),
    Impl("scipy", ("scipy.special",), 'pip install "softmax_c[bench]"', version_module="scipy"),
    Impl("torch", ("torch",), _PEERS_HINT, torch_threads),
    Impl("onnxruntime", ("onnxruntime", "onnx"), _PEERS_HINT),
)


def get_impl(name: str) -> Impl:
    """Return the :class:`Impl` called ``name``."""
    for impl in IMPLS:
        if impl.name == name:
            return impl
    raise KeyError(f"unknown implementation {name!r}")


def numpy_threads_note() -> str:
    """Say whether NumPy's BLAS threads follow ``--threads``."""
    if try_import("threadpoolctl") is None:
        return "numpy BLAS threads not pinned (pip install threadpoolctl)"
    return ""


def np_dtype(name: str) -> np.dtype:
    """Map ``"float32"``/``"float64"`` to a NumPy dtype, rejecting others."""
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {name!r}")
    return np.dtype(name)
