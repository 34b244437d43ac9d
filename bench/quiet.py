"""python -m bench.quiet MODULE ARGS...: run ``python -m MODULE ARGS...`` with logging at WARNING.

For a server that has no ``--log-level`` option: configuring the root logger first makes the
server's own ``logging.basicConfig(level=INFO)`` a no-op, so its per-request access log is off
while its warnings and errors still reach stderr. waitress stays at INFO: it logs the
"serving on" line that tells the bench the port.
"""

from __future__ import annotations

import logging
import runpy
import sys


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m bench.quiet MODULE [ARGS...]")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("waitress").setLevel(logging.INFO)
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
