"""Type stubs of softmax_c's public API (see the docstrings in ``special.py``,
``attention.py`` and ``sampling.py`` for the semantics)."""

from typing import Any, List, Literal, Optional, Sequence, Tuple, TypedDict, TypeVar, Union, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
__all__: List[str]

_Axis = Union[int, Tuple[int, ...], None]
_Floats = NDArray[np.floating[Any]]
# A reduction to no axes left gives a NumPy scalar instead of an array.
_FloatsOrScalar = Union[NDArray[np.floating[Any]], np.floating[Any]]
_OutT = TypeVar("_OutT", bound=np.ndarray[Any, Any])

class _CpuInfo(TypedDict):
    version: str
    features: List[str]
    target: str
    targets_compiled: List[str]
    targets_supported: List[str]
    num_threads: int

# ------------------------------------------------------------ softmax family --

@overload
def softmax(x: ArrayLike, axis: _Axis = None, *, temperature: float = 1.0,
            out: None = None) -> _Floats: ...
@overload
def softmax(x: ArrayLike, axis: _Axis = None, *, temperature: float = 1.0,
            out: _OutT) -> _OutT: ...
@overload
def log_softmax(x: ArrayLike, axis: _Axis = None, *, temperature: float = 1.0,
                out: None = None) -> _Floats: ...
@overload
def log_softmax(x: ArrayLike, axis: _Axis = None, *, temperature: float = 1.0,
                out: _OutT) -> _OutT: ...

_Out2 = Tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]

@overload
def logsumexp(a: ArrayLike, axis: _Axis = None, b: Optional[ArrayLike] = None,
              keepdims: bool = False, return_sign: Literal[False] = False, *,
              out: None = None) -> _FloatsOrScalar: ...
@overload
def logsumexp(a: ArrayLike, axis: _Axis = None, b: Optional[ArrayLike] = None,
              keepdims: bool = False, return_sign: Literal[False] = False, *,
              out: _OutT) -> _OutT: ...
@overload
def logsumexp(a: ArrayLike, axis: _Axis, b: Optional[ArrayLike], keepdims: bool,
              return_sign: Literal[True], *,
              out: Optional[_Out2] = None) -> Tuple[_FloatsOrScalar, _FloatsOrScalar]: ...
@overload
def logsumexp(a: ArrayLike, axis: _Axis = None, b: Optional[ArrayLike] = None,
              keepdims: bool = False, *, return_sign: Literal[True],
              out: Optional[_Out2] = None) -> Tuple[_FloatsOrScalar, _FloatsOrScalar]: ...
@overload
def logsumexp(a: ArrayLike, axis: _Axis = None, b: Optional[ArrayLike] = None,
              keepdims: bool = False, return_sign: bool = False, *,
              out: Union[np.ndarray[Any, Any], _Out2, None] = None
              ) -> Union[_FloatsOrScalar, Tuple[_FloatsOrScalar, _FloatsOrScalar]]: ...

# ------------------------------------------------------------ partial states --

def softmax_stats(x: ArrayLike, axis: _Axis = -1, *, temperature: float = 1.0,
                  b: Optional[ArrayLike] = None) -> Tuple[_Floats, _Floats]: ...
def merge_stats(m: ArrayLike, s: ArrayLike, axis: Union[int, Tuple[int, ...]]) -> Tuple[_Floats, _Floats]: ...

# ----------------------------------------------------------------- attention --

@overload
def scaled_dot_product_attention(
    query: ArrayLike, key: ArrayLike, value: ArrayLike, attn_mask: Optional[ArrayLike] = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
    enable_gqa: bool = False, *, causal_alignment: Literal["upper_left", "lower_right"] = "upper_left",
    return_lse: Literal[False] = False, out: Optional[NDArray[Any]] = None,
) -> _Floats: ...
@overload
def scaled_dot_product_attention(
    query: ArrayLike, key: ArrayLike, value: ArrayLike, attn_mask: Optional[ArrayLike] = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
    enable_gqa: bool = False, *, causal_alignment: Literal["upper_left", "lower_right"] = "upper_left",
    return_lse: Literal[True], out: Union[NDArray[Any], _Out2, None] = None,
) -> Tuple[_Floats, _Floats]: ...
@overload
def scaled_dot_product_attention(
    query: ArrayLike, key: ArrayLike, value: ArrayLike, attn_mask: Optional[ArrayLike] = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
    enable_gqa: bool = False, *, causal_alignment: Literal["upper_left", "lower_right"] = "upper_left",
    return_lse: bool = False, out: Union[NDArray[Any], _Out2, None] = None,
) -> Union[_Floats, Tuple[_Floats, _Floats]]: ...

def merge_attention(outputs: Union[Sequence[ArrayLike], NDArray[Any]],
                    lses: Union[Sequence[ArrayLike], NDArray[Any]], *,
                    out: Optional[_Out2] = None) -> Tuple[_Floats, _Floats]: ...

def flash_attn_varlen_func(
    q: ArrayLike, k: ArrayLike, v: ArrayLike, cu_seqlens_q: ArrayLike, cu_seqlens_k: ArrayLike,
    max_seqlen_q: Optional[int] = None, max_seqlen_k: Optional[int] = None, dropout_p: float = 0.0,
    softmax_scale: Optional[float] = None, causal: bool = False, window_size: Tuple[int, int] = (-1, -1),
    softcap: float = 0.0, alibi_slopes: Optional[ArrayLike] = None, *, block_table: Optional[ArrayLike] = None,
    sinks: Optional[ArrayLike] = None, return_lse: bool = False, out: Union[NDArray[Any], _Out2, None] = None,
) -> Union[_Floats, Tuple[_Floats, _Floats]]: ...
def flash_attn_with_kvcache(
    q: ArrayLike, k_cache: NDArray[Any], v_cache: NDArray[Any], k: Optional[ArrayLike] = None,
    v: Optional[ArrayLike] = None, cache_seqlens: Union[int, ArrayLike, None] = None,
    block_table: Optional[ArrayLike] = None, softmax_scale: Optional[float] = None, causal: bool = False,
    window_size: Tuple[int, int] = (-1, -1), softcap: float = 0.0, alibi_slopes: Optional[ArrayLike] = None, *,
    sinks: Optional[ArrayLike] = None, return_lse: bool = False, out: Union[NDArray[Any], _Out2, None] = None,
) -> Union[_Floats, Tuple[_Floats, _Floats]]: ...

# ------------------------------------------------------------------ sampling --

@overload
def sample(logits: ArrayLike, *, temperature: float = 1.0, top_k: Optional[int] = None,
           top_p: Optional[float] = None, min_p: Optional[float] = None, axis: int = -1,
           seed: Union[int, np.random.Generator, None] = None, out: None = None
           ) -> Union[NDArray[np.int64], np.int64]: ...
@overload
def sample(logits: ArrayLike, *, temperature: float = 1.0, top_k: Optional[int] = None,
           top_p: Optional[float] = None, min_p: Optional[float] = None, axis: int = -1,
           seed: Union[int, np.random.Generator, None] = None, out: _OutT) -> _OutT: ...
def topk_softmax(logits: ArrayLike, top_k: int, *, axis: int = -1, temperature: float = 1.0,
                 out: Optional[_Out2] = None) -> Tuple[_Floats, NDArray[np.int64]]: ...
def fit_temperature(logits: ArrayLike, labels: ArrayLike) -> float: ...
def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, *, n_bins: int = 15) -> float: ...

# -------------------------------------------------------------------- config --

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def cpu_info() -> _CpuInfo: ...
def show_config() -> None: ...
