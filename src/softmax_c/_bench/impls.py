"""The implementations compared: softmax_c, the NumPy baseline and peers.

An :class:`Impl` knows how to import its library (lazily: nothing here needs
the compiled core at import time), its version, how to pin its thread count
and how to install it. What it computes for each operation lives in
:mod:`softmax_c._bench.ops`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np

__all__ = ["Impl", "IMPLS", "LIBRARY", "BASELINE", "get_impl", "load_softmax_c", "try_import",
           "install_command", "pip_command", "TORCH_CPU_INDEX",
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


#: Where pip finds torch's CPU-only wheels. Plain ``pip install torch`` takes
#: a CUDA build of several GB on Linux; none of the benchmarks uses a GPU.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

#: Module a peer imports -> the distribution pip installs it from.
_DISTRIBUTION = {"scipy.special": "scipy", "softmax_c": "."}


def pip_command() -> str:
    """``python3 -m pip`` when that is this interpreter, else this interpreter's
    path: the command must install into the environment being benchmarked."""
    found = shutil.which("python3")
    if found and os.path.realpath(found) == os.path.realpath(sys.executable):
        return "python3 -m pip"
    return f"{shlex.quote(sys.executable)} -m pip"


def install_command(modules) -> str:
    """The command that installs ``modules`` (torch from its CPU index).

    >>> install_command(["onnx"])                                # doctest: +SKIP
    'python3 -m pip install onnx'
    """
    pip = pip_command()
    dists = [_DISTRIBUTION.get(m, m.partition(".")[0]) for m in modules]
    parts = []
    rest = [d for d in dists if d != "torch"]
    if rest:
        parts.append(f"{pip} install {' '.join(rest)}")
    if "torch" in dists:
        parts.append(f"{pip} install torch --index-url {TORCH_CPU_INDEX}")
    return " && ".join(parts)


def _import_problem(name: str) -> Optional[str]:
    """None when ``name`` imports; else "not installed" or why it failed."""
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and not name.startswith(exc.name) and not exc.name.startswith(name):
            return f"fails to import ({exc})"  # a dependency of it is missing
        return "not installed"
    except Exception as exc:  # a broken install can raise anything
        return f"fails to import ({type(exc).__name__}: {exc})"
    return None


@dataclass(frozen=True)
class Impl:
    """One implementation under test.

    Parameters
    ----------
    name : str
        Column label and key in :data:`softmax_c._bench.ops` adapters.
    modules : tuple of str
        Modules that must import for the implementation to be available.
    threads : callable
        ``threads(n)`` returns a context manager pinning its thread count.
    version_module : str, optional
        Module whose ``__version__`` is reported (default: ``modules[0]``).
    """

    name: str
    modules: tuple
    threads: Callable = _no_threads
    version_module: Optional[str] = None

    def available(self) -> bool:
        """True when every module imports (softmax_c: when it is built)."""
        if self.name == LIBRARY:
            return load_softmax_c() is not None
        return all(try_import(m) is not None for m in self.modules)

    def problems(self) -> Dict[str, str]:
        """Module -> "not installed" or why it fails to import, for each
        module of :attr:`modules` that does not import."""
        if self.name == LIBRARY:
            return {} if self.available() else {LIBRARY: "not built"}
        found = {m: _import_problem(m) for m in self.modules}
        return {m: p for m, p in found.items() if p is not None}

    @property
    def install(self) -> str:
        """What is missing and the command that adds it, e.g.
        ``"onnx not installed; python3 -m pip install onnx"``."""
        problems = self.problems()
        if not problems:
            return ""
        if self.name == LIBRARY:
            return f"the compiled core is not built; {pip_command()} install ."
        what = ", ".join(f"{m.partition('.')[0]} {p}" for m, p in problems.items())
        return f"{what}; {install_command(list(problems))}"

    def version(self) -> Optional[str]:
        """The library version, or None when unavailable."""
        mod = try_import(self.version_module or self.modules[0])
        return getattr(mod, "__version__", None) if mod is not None else None


#: Implementations in table order: the library, the baseline, then peers.
IMPLS = (
    Impl(LIBRARY, ("softmax_c",), softmax_c_threads),
    Impl(BASELINE, ("numpy",), blas_threads),
    Impl("scipy", ("scipy.special",), version_module="scipy"),
    Impl("torch", ("torch",), torch_threads),
    Impl("onnxruntime", ("onnxruntime", "onnx")),
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
        return ("numpy BLAS threads not pinned: threadpoolctl not installed; "
                + install_command(["threadpoolctl"]))
    return ""


#: The element types of the benchmarks; the half ones (issue 11) run the
#: softmax family, attention, sample and topk_softmax (runner.HALF_OPS),
#: against softmax_c's float32 (and torch, but for sample and topk_softmax).
DTYPES = ("float32", "float64", "float16", "bfloat16")
HALF_DTYPES = ("float16", "bfloat16")


def np_dtype(name: str) -> np.dtype:
    """Map a name of :data:`DTYPES` to a NumPy dtype (bfloat16: ml_dtypes',
    imported here only), rejecting others."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
