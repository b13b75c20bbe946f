"""Smoke tests of the benchmark tooling itself (the CLI and its checks).

They run in seconds and time nothing that is asserted on; they make sure a
wrong result is reported and fails the run, and that the outputs are sane.
"""

import json

import numpy as np
import pytest

from softmax_c.bench import OPS, check_result, main, select_cases, tolerance_for
from softmax_c._bench.impls import TORCH_CPU_INDEX, get_impl, try_import
from softmax_c._bench.ops import attention_pairs


def _quick(tmp_path, *extra):
    out = tmp_path / "r.json"
    status = main(["--quick", "--ops", "softmax,logsumexp", "--time", "0.2",
                   "--no-progress", "--json", str(out), *extra])
    return status, json.loads(out.read_text())


def test_quick_run_writes_json(tmp_path, capsys):
    status, data = _quick(tmp_path)
    text = capsys.readouterr().out
    assert status == 0, text
    assert "CPU:" in text and "summary:" in text
    ok = [r for r in data["results"] if r["status"] == "ok"]
    assert {r["impl"] for r in ok} >= {"numpy"}
    for r in ok:
        assert r["median_s"] > 0 and r["throughput"] > 0 and r["limit"] > 0
        assert r["check_error_over_tol"] <= 1


def test_mismatch_fails_the_run(tmp_path, capsys, monkeypatch):
    def wrong(case, inputs, threads):
        x = inputs["x"]
        return lambda: np.full_like(x, 1.0 / x.shape[case.axis]) * 1.01

    monkeypatch.setitem(OPS["softmax"].adapters, "numpy", wrong)
    status, data = _quick(tmp_path, "--impls", "numpy")
    text = capsys.readouterr().out
    assert status == 1
    assert "MISMATCH" in text and "FAILED: numpy on softmax:" in text
    assert any(r["status"] == "mismatch" for r in data["results"])


def test_every_case_has_a_quick_shape_of_the_same_rank():
    for case in select_cases("full"):
        assert len(case.quick_shape) == len(case.shape), case.id
        assert case.op in OPS, case.id


def test_causal_pair_count():
    assert attention_pairs(4, 4, False) == 16
    assert attention_pairs(4, 4, True) == 10  # 1 + 2 + 3 + 4
    assert attention_pairs(1, 8, True) == 1  # upper-left: row 0 sees key 0
    assert attention_pairs(6, 3, True) == 1 + 2 + 3 * 4


@pytest.mark.parametrize("dtype, rel", [("float32", 5e-6), ("float64", 5e-11)])
def test_library_tolerance_is_tighter_than_peers(dtype, rel):
    ref = np.full(10, 0.1)
    got = (ref * (1 + rel)).astype(dtype)
    lib = check_result(got, ref, tolerance_for("softmax_c", dtype, "prob"), "prob")
    peer = check_result(got, ref, tolerance_for("torch", dtype, "prob"), "prob")
    assert not lib.ok and "out of tolerance" in lib.message
    assert peer.ok


def test_check_flags_nan_and_shape():
    ref = np.array([0.5, 0.5])
    tol = tolerance_for("numpy", "float32", "prob")
    assert not check_result(np.array([0.5, np.nan]), ref, tol, "prob").ok
    assert not check_result(np.array([1.0]), ref, tol, "prob").ok


def test_sampling_ops_quick_run(tmp_path, capsys):
    out = tmp_path / "s.json"
    status = main(["--quick", "--ops", "sample,topk_softmax", "--time", "0.2",
                   "--no-progress", "--json", str(out)])
    text = capsys.readouterr().out
    assert status == 0, text
    data = json.loads(out.read_text())
    ok = [r for r in data["results"] if r["status"] == "ok"]
    assert {(r["op"], r["impl"]) for r in ok} >= {("sample", "numpy"), ("topk_softmax", "numpy")}
    assert all(r["options"] for r in data["results"])


def _sampling_case(op):
    from softmax_c.bench import make_inputs, oracle

    case = next(c for c in select_cases("quick") if c.op == op)
    inputs = make_inputs(case, "float32")
    return case, inputs, oracle(case, inputs)


def test_topk_check_flags_wrong_indices_and_probabilities():
    from softmax_c._bench.check import check_topk

    case, inputs, (p, i) = _sampling_case("topk_softmax")
    x = inputs["x"]
    tol = tolerance_for("numpy", "float32", "prob")
    assert check_topk((p, i), (p, i), x, tol).ok
    swapped = i.copy()
    swapped[0, [0, 1]] = swapped[0, [1, 0]]
    assert "k largest" in check_topk((p, swapped), (p, i), x, tol).message
    dup = i.copy()
    dup[0, 1] = dup[0, 0]
    assert "repeats" in check_topk((p, dup), (p, i), x, tol).message
    assert not check_topk((p * 1.01, i), (p, i), x, tol).ok


def test_sample_check_flags_tokens_outside_the_support_and_reseeding():
    from softmax_c._bench.check import check_sample

    case, inputs, support = _sampling_case("sample")
    inside = support.strict.argmax(axis=1)  # the most likely token is always kept
    outside = (~support.loose()).argmax(axis=1)
    assert (~support.loose()).any(axis=1).all()  # top_p 0.9 on peaked logits drops tokens
    assert check_sample(inside, support.strict, support.loose, inside).ok
    bad = check_sample(outside, support.strict, support.loose)
    assert not bad.ok and "outside the support" in bad.message
    other = inside.copy()
    other[0] = outside[0]
    assert "same seed" in check_sample(inside, support.strict, support.loose, other).message


def test_sample_mismatch_fails_the_run(tmp_path, capsys, monkeypatch):
    def least_likely(case, inputs, threads):
        x = inputs["x"]
        return lambda: x.argmin(axis=-1)

    monkeypatch.setitem(OPS["sample"].adapters, "numpy", least_likely)
    out = tmp_path / "r.json"
    status = main(["--quick", "--ops", "sample", "--impls", "numpy", "--time", "0.1",
                   "--no-progress", "--json", str(out)])
    text = capsys.readouterr().out
    assert status == 1 and "MISMATCH" in text and "outside the support" in text


def test_missing_peers_are_named_with_the_command_that_adds_them(monkeypatch, tmp_path, capsys):
    import sys

    for name in ("torch", "onnx", "threadpoolctl"):
        monkeypatch.setitem(sys.modules, name, None)  # import of it fails as if not installed
    torch_hint = get_impl("torch").install
    assert torch_hint.startswith("torch not installed; ")
    assert f"pip install torch --index-url {TORCH_CPU_INDEX}" in torch_hint
    onnx_hint = get_impl("onnxruntime").install
    # onnx is made missing here; onnxruntime may be missing too (a peer, not in the test extra)
    ort_missing = try_import("onnxruntime") is None
    lead = "onnxruntime not installed, " if ort_missing else ""
    assert onnx_hint.startswith(lead + "onnx not installed; "), onnx_hint
    assert onnx_hint.endswith("pip install onnxruntime onnx" if ort_missing else "pip install onnx"), onnx_hint
    assert get_impl("numpy").install == ""
    status, _ = _quick(tmp_path, "--impls", "numpy")
    text = capsys.readouterr().out
    assert status == 0, text
    assert "softmax_c[bench]" not in text  # the advice names what is missing, not an extra
    assert f"peer torch skipped: {torch_hint}" in text
    assert "threadpoolctl not installed; " in text and "pip install threadpoolctl" in text


def test_serving_ops_quick_run(tmp_path, capsys):
    out = tmp_path / "s.json"
    status = main(["--quick", "--ops", "serving_sample,verify_draft", "--time", "0.2",
                   "--no-progress", "--json", str(out)])
    text = capsys.readouterr().out
    assert status == 0, text
    data = json.loads(out.read_text())
    ok = {(r["op"], r["impl"]) for r in data["results"] if r["status"] == "ok"}
    want = {("serving_sample", "softmax_c"), ("serving_sample", "numpy"), ("verify_draft", "softmax_c"),
            ("verify_draft", "numpy")}
    if get_impl("torch").available():  # a peer, not in the test extra: the runner's own check
        want.add(("serving_sample", "torch"))
    assert ok >= want, text


def test_verify_check_flags_a_wrong_prefix():
    from softmax_c._bench.ops import _verify_check

    case, inputs, ref = _sampling_case("verify_draft")
    acc = np.full(ref.shape[0], ref.shape[1])
    toks = np.concatenate([ref, np.zeros((ref.shape[0], 1), np.int64)], axis=1)
    assert _verify_check(case, "numpy", (acc, toks), ref, inputs).ok
    toks[0, 0] = (toks[0, 0] + 1) % inputs["x"].shape[-1]
    assert not _verify_check(case, "numpy", (acc, toks), ref, inputs).ok


def test_serving_cases_run_and_check(tmp_path, capsys):
    """The serving attention ops (issue 12) in --quick: both implementations
    run and match the per-sequence oracle."""
    out = tmp_path / "s.json"
    status = main(["--quick", "--ops", "attention_paged,attention_varlen", "--time", "0.1", "--no-progress",
                   "--json", str(out)])
    text = capsys.readouterr().out
    assert status == 0, text
    data = json.loads(out.read_text())
    got = {(r["op"], r["impl"]) for r in data["results"] if r["status"] == "ok"}
    assert {("attention_paged", "softmax_c"), ("attention_varlen", "softmax_c")} <= got
    assert "n_seq=" in text
