"""Run-time ISA dispatch: what was picked, switching tables, SOFTMAX_C_ISA.

Cross-checks the library's own CPU detection against /proc/cpuinfo where
that exists (Linux), so a wrong feature probe cannot hide.
"""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from conftest import TARGET_RANK, assert_close, ref

X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
ARM = platform.machine().lower() in ("aarch64", "arm64")
# the target names dispatch defines on every platform (cpp/src/dispatch.cpp
# kTargets); on aarch64 NEON is the `baseline` target and avx2 / avx512 are
# known but not compiled
KNOWN = {"scalar", "baseline", "avx2", "avx512"}



def _not_usable(info):
    """Target names set_target / SOFTMAX_C_ISA must refuse here: the known
    ones this CPU lacks (compiled first), then "neon" on x86 (another
    platform's ISA name, so never empty on a CPU that has every x86 target)."""
    names = sorted(KNOWN - set(info["targets_supported"]), key=lambda t: (t not in info["targets_compiled"], t))
    return names + (["neon"] if X86 else [])


# what each x86 target needs from the CPU (DESIGN.md: AVX2+FMA; AVX-512 F/BW/DQ/VL)
NEEDS = {"avx2": {"avx2", "fma"}, "avx512": {"avx512f", "avx512bw", "avx512dq", "avx512vl"}}


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def _run_python(code, **env_extra):
    env = dict(os.environ)
    env.pop("SOFTMAX_C_ISA", None)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def test_cpu_info_keys_and_types(sc):
    info = sc.cpu_info()
    assert isinstance(info, dict)
    for key in ("version", "features", "target", "targets_compiled", "targets_supported",
                "num_threads"):
        assert key in info, f"cpu_info() lacks {key!r}"
    assert isinstance(info["version"], str) and info["version"]
    assert isinstance(info["features"], list) and all(isinstance(f, str) for f in info["features"])
    assert isinstance(info["target"], str)
    for key in ("targets_compiled", "targets_supported"):
        assert isinstance(info[key], list) and all(isinstance(t, str) for t in info[key])
        assert set(info[key]) <= KNOWN, info[key]
    assert isinstance(info["num_threads"], int) and info["num_threads"] >= 1
    assert info["num_threads"] == sc.get_num_threads()
    if hasattr(sc, "__version__"):
        assert info["version"] == sc.__version__


def test_supported_subset_of_compiled(sc):
    info = sc.cpu_info()
    assert set(info["targets_supported"]) <= set(info["targets_compiled"])
    assert info["target"] in info["targets_supported"]
    assert "baseline" in info["targets_supported"]
    if X86:
        # DESIGN.md: baseline, AVX2 and AVX-512 are all built; never -march=native
        assert {"baseline", "avx2", "avx512"} <= set(info["targets_compiled"])
    if ARM:
        # NEON is the aarch64 baseline (no separate "neon" target); x86 targets not built
        assert set(info["targets_compiled"]) == {"scalar", "baseline"}
        assert "neon" in str(info["features"])


@pytest.mark.skipif(not (X86 and _cpu_flags() is not None), reason="needs Linux x86 /proc/cpuinfo")
def test_supported_agrees_with_proc_cpuinfo(sc):
    flags = _cpu_flags()
    info = sc.cpu_info()
    for t, needs in NEEDS.items():
        if t not in info["targets_compiled"]:
            continue
        has = needs <= flags
        assert (t in info["targets_supported"]) == has, \
            f"{t}: CPU flags say {'yes' if has else 'no'} ({sorted(needs & flags)}), " \
            f"library says {info['targets_supported']}"


@pytest.mark.skipif("SOFTMAX_C_ISA" in os.environ, reason="target forced by SOFTMAX_C_ISA")
def test_best_target_chosen(sc):
    info = sc.cpu_info()
    best = max(info["targets_supported"], key=lambda t: TARGET_RANK[t])
    assert info["target"] == best
    assert sc._core.get_target() == best


def test_best_target_chosen_in_fresh_process(sc):
    p = _run_python("import softmax_c; i = softmax_c.cpu_info(); "
                    "print(i['target'], ' '.join(i['targets_supported']))")
    assert p.returncode == 0, p.stderr
    target, *supported = p.stdout.split()
    assert target == max(supported, key=lambda t: TARGET_RANK[t])


def test_each_target_matches_reference(sc, target, rng):
    assert sc._core.get_target() == target
    x = (rng.standard_normal((9, 301)) * 5).astype(np.float32)
    assert_close(sc.softmax(x, axis=1), ref.softmax(x, axis=1), "prob", dtype=np.float32)
    assert_close(sc.log_softmax(x, axis=0), ref.log_softmax(x, axis=0), "logsm",
                 dtype=np.float32)
    assert_close(sc.logsumexp(x, axis=1), ref.logsumexp(x, axis=1), "log", dtype=np.float32)
    x64 = x.astype(np.float64) * 3
    assert_close(sc.softmax(x64, axis=None), ref.softmax(x64), "prob", dtype=np.float64)


def test_targets_agree_closely(sc, rng):
    # every table within the contract of the oracle => within 2x of each other
    x = (rng.standard_normal((4, 1000)) * 5).astype(np.float32)
    prev = sc._core.get_target()
    try:
        outs = {}
        for t in sc.cpu_info()["targets_supported"]:
            sc._core.set_target(t)
            outs[t] = sc.softmax(x, axis=1).astype(np.float64)
    finally:
        sc._core.set_target(prev)
    first = next(iter(outs.values()))
    for t, y in outs.items():
        np.testing.assert_allclose(y, first, rtol=6e-6, atol=6e-36, err_msg=t)


@pytest.mark.parametrize("name", ["nonsense", "", "AVX2 ", "sse9"])
def test_set_target_unknown_raises(sc, name):
    prev = sc._core.get_target()
    with pytest.raises(ValueError):
        sc._core.set_target(name)
    assert sc._core.get_target() == prev


def test_set_target_unsupported_raises(sc):
    info = sc.cpu_info()
    prev = sc._core.get_target()
    unsupported = _not_usable(info)
    assert unsupported, "no unsupported target to try"
    for name in unsupported:
        with pytest.raises(ValueError):
            sc._core.set_target(name)
        assert sc._core.get_target() == prev


def test_env_isa_forces_each_supported_target(sc):
    code = ("import numpy as np, softmax_c; "
            "y = softmax_c.softmax(np.array([0.0, np.log(3.0)], np.float32)); "
            "print(softmax_c.cpu_info()['target'], softmax_c._core.get_target(), "
            "repr(float(y[0])), repr(float(y[1])))")
    for t in sc.cpu_info()["targets_supported"]:
        p = _run_python(code, SOFTMAX_C_ISA=t)
        assert p.returncode == 0, f"SOFTMAX_C_ISA={t}: {p.stderr}"
        chosen, current, y0, y1 = p.stdout.split()
        assert chosen == t and current == t
        assert abs(float(y0) - 0.25) <= 3e-6 * 0.25 and abs(float(y1) - 0.75) <= 3e-6 * 0.75


@pytest.mark.parametrize("value", ["bogus", "avx1024"])
def test_env_isa_unknown_value_errors(sc, value):
    p = _run_python("import softmax_c; print(softmax_c.cpu_info()['target'])",
                    SOFTMAX_C_ISA=value)
    assert p.returncode != 0, f"SOFTMAX_C_ISA={value} was accepted: {p.stdout}"
    assert value in p.stderr, f"error should name the bad value: {p.stderr[-500:]}"


def test_env_isa_unsupported_target_errors(sc):
    info = sc.cpu_info()
    name = _not_usable(info)[0]
    p = _run_python("import softmax_c; print(softmax_c.cpu_info()['target'])",
                    SOFTMAX_C_ISA=name)
    assert p.returncode != 0, f"SOFTMAX_C_ISA={name} accepted on a CPU without it: {p.stdout}"
    assert name in p.stderr, f"error should name {name!r}: {p.stderr[-500:]}"


def test_show_config_prints_target(sc, capsys):
    sc.show_config()
    out = capsys.readouterr().out
    info = sc.cpu_info()
    assert info["target"] in out
    assert info["version"] in out
    for t in info["targets_supported"]:
        assert t in out
