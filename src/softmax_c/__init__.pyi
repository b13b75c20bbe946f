"""Type stubs of softmax_c's public API (see the docstrings in ``special.py``,
``attention.py`` and ``sampling.py`` for the semantics)."""

from typing import Any, Dict, List, Literal, NamedTuple, Optional, Sequence, Tuple, TypedDict, TypeVar, Union, overload

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

@overload
def expit(x: ArrayLike, *, out: None = None) -> _Floats: ...
@overload
def expit(x: ArrayLike, *, out: _OutT) -> _OutT: ...
@overload
def log_expit(x: ArrayLike, *, out: None = None) -> _Floats: ...
@overload
def log_expit(x: ArrayLike, *, out: _OutT) -> _OutT: ...

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
    query: ArrayLike, key: Union[ArrayLike, QuantizedKV], value: Union[ArrayLike, QuantizedKV], attn_mask: Optional[ArrayLike] = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
    enable_gqa: bool = False, *, causal_alignment: Literal["upper_left", "lower_right"] = "upper_left",
    return_lse: Literal[False] = False, out: Optional[NDArray[Any]] = None,
) -> _Floats: ...
@overload
def scaled_dot_product_attention(
    query: ArrayLike, key: Union[ArrayLike, QuantizedKV], value: Union[ArrayLike, QuantizedKV], attn_mask: Optional[ArrayLike] = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
    enable_gqa: bool = False, *, causal_alignment: Literal["upper_left", "lower_right"] = "upper_left",
    return_lse: Literal[True], out: Union[NDArray[Any], _Out2, None] = None,
) -> Tuple[_Floats, _Floats]: ...
@overload
def scaled_dot_product_attention(
    query: ArrayLike, key: Union[ArrayLike, QuantizedKV], value: Union[ArrayLike, QuantizedKV], attn_mask: Optional[ArrayLike] = None,
    dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
    enable_gqa: bool = False, *, causal_alignment: Literal["upper_left", "lower_right"] = "upper_left",
    return_lse: bool = False, out: Union[NDArray[Any], _Out2, None] = None,
) -> Union[_Floats, Tuple[_Floats, _Floats]]: ...

class QuantizedKV:
    values: NDArray[Any]
    scales: NDArray[Any]
    axis: int
    def __init__(self, values: ArrayLike, scales: ArrayLike, axis: int = -1) -> None: ...
    @property
    def shape(self) -> Tuple[int, ...]: ...
    @property
    def ndim(self) -> int: ...
    def dequantize(self, dtype: Any = ...) -> NDArray[Any]: ...

def quantize_kv(x: ArrayLike, *, axis: int = -1) -> QuantizedKV: ...

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

class SampleResult(NamedTuple):
    tokens: NDArray[np.int64]
    logprob: NDArray[np.float64]
    top_ids: NDArray[np.int64]
    top_logprobs: NDArray[np.float64]
@overload
def sample(logits: ArrayLike, *, temperature: Union[float, ArrayLike] = 1.0,
           top_k: Union[int, ArrayLike, None] = None, top_p: Union[float, ArrayLike, None] = None,
           min_p: Union[float, ArrayLike, None] = None, axis: int = -1,
           seed: Union[int, ArrayLike, np.random.Generator, None] = None, offset: Union[int, ArrayLike, None] = None,
           prev_tokens: Optional[ArrayLike] = None, repetition_penalty: Union[float, ArrayLike, None] = None,
           presence_penalty: Union[float, ArrayLike, None] = None,
           frequency_penalty: Union[float, ArrayLike, None] = None,
           logit_bias: Union[Dict[int, float], Tuple[ArrayLike, ArrayLike], None] = None,
           allowed_tokens: Optional[ArrayLike] = None, logprobs: None = None, logprobs_mode: str = "raw",
           out: None = None) -> Union[NDArray[np.int64], np.int64]: ...
@overload
def sample(logits: ArrayLike, *, temperature: Union[float, ArrayLike] = 1.0,
           top_k: Union[int, ArrayLike, None] = None, top_p: Union[float, ArrayLike, None] = None,
           min_p: Union[float, ArrayLike, None] = None, axis: int = -1,
           seed: Union[int, ArrayLike, np.random.Generator, None] = None, offset: Union[int, ArrayLike, None] = None,
           prev_tokens: Optional[ArrayLike] = None, repetition_penalty: Union[float, ArrayLike, None] = None,
           presence_penalty: Union[float, ArrayLike, None] = None,
           frequency_penalty: Union[float, ArrayLike, None] = None,
           logit_bias: Union[Dict[int, float], Tuple[ArrayLike, ArrayLike], None] = None,
           allowed_tokens: Optional[ArrayLike] = None, logprobs: None = None, logprobs_mode: str = "raw",
           out: _OutT) -> _OutT: ...
@overload
def sample(logits: ArrayLike, *, temperature: Union[float, ArrayLike] = 1.0,
           top_k: Union[int, ArrayLike, None] = None, top_p: Union[float, ArrayLike, None] = None,
           min_p: Union[float, ArrayLike, None] = None, axis: int = -1,
           seed: Union[int, ArrayLike, np.random.Generator, None] = None, offset: Union[int, ArrayLike, None] = None,
           prev_tokens: Optional[ArrayLike] = None, repetition_penalty: Union[float, ArrayLike, None] = None,
           presence_penalty: Union[float, ArrayLike, None] = None,
           frequency_penalty: Union[float, ArrayLike, None] = None,
           logit_bias: Union[Dict[int, float], Tuple[ArrayLike, ArrayLike], None] = None,
           allowed_tokens: Optional[ArrayLike] = None, logprobs: int, logprobs_mode: str = "raw",
           out: Optional[NDArray[np.int64]] = None) -> SampleResult: ...
class VerifyResult(NamedTuple):
    num_accepted: NDArray[np.int64]
    tokens: NDArray[np.int64]
def verify_draft(target_logits: ArrayLike, draft_tokens: ArrayLike, draft_probs: Optional[ArrayLike] = None, *,
                 temperature: Union[float, ArrayLike] = 1.0, top_k: Union[int, ArrayLike, None] = None,
                 top_p: Union[float, ArrayLike, None] = None, min_p: Union[float, ArrayLike, None] = None,
                 seed: Union[int, ArrayLike, np.random.Generator, None] = None,
                 offset: Union[int, ArrayLike, None] = None) -> VerifyResult: ...
def topk_softmax(logits: ArrayLike, top_k: int, *, axis: int = -1, temperature: float = 1.0,
                 out: Optional[_Out2] = None) -> Tuple[_Floats, NDArray[np.int64]]: ...
def fit_temperature(logits: ArrayLike, labels: ArrayLike) -> float: ...
def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, *, n_bins: int = 15) -> float: ...

# -------------------------------------------------------------------- config --

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def cpu_info() -> _CpuInfo: ...
def show_config() -> None: ...

class _OutputCacheInfo(TypedDict):
    budget: int
    cached_bytes: int
    cached_buffers: int
    live_buffers: int
    hits: int
    misses: int

def set_output_cache_bytes(n: int) -> None: ...
def get_output_cache_bytes() -> int: ...
def trim_output_cache() -> None: ...
def output_cache_info() -> _OutputCacheInfo: ...
