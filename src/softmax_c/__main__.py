"""``python -m softmax_c COMMAND``: command-line entry points.

Commands
--------
bench
    Benchmarks against NumPy and peers (see :mod:`softmax_c.bench`).
info
    CPU features, dispatch target, threads and library versions.
"""

from __future__ import annotations

import sys

USAGE = """usage: python -m softmax_c COMMAND [options]

commands:
  bench   benchmark softmax_c against NumPy and peers (--help for options)
  info    CPU features, dispatch target, threads and versions
"""


def _info() -> int:
    from ._bench.report import format_system, system_info

    print(format_system(system_info()))
    return 0


def main(argv=None) -> int:
    """Dispatch to a command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "bench":
        from .bench import main as bench_main

        return bench_main(rest)
    if command == "info":
        return _info()
    print(f"unknown command {command!r}\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
