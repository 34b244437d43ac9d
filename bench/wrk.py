"""wrk as the load generator, when it is on PATH.

A Lua script sets the method, headers and body; its ``done`` hook prints the totals and the
p50/p99 latency. wrk counts status >= 400 as its "non-2xx". A request with fresh values (see
wire.py) is sent by a ``request`` function instead: each wrk thread reads its share of the
values from a file before the run starts (value i goes to thread i mod threads) and sends
each once; a thread that runs out starts over, which the server answers as a replay (a
non-2xx), and the run is marked ``ran_out``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .wire import Request, Result, default_processes

_DONE = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
  io.write(string.format("LATENCY %f %f\\n", latency:percentile(50), latency:percentile(99)))
  for _, thread in ipairs(threads) do
    if thread:get("ran_out") then io.write("RANOUT\\n") end
  end
end
"""

_STATIC = """\
threads = {{}}
wrk.method = {method}
wrk.path = {path}
wrk.body = {body}
{headers}
"""

_FRESH = """\
threads = {{}}
local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end
function init(args)
  local prefix, suffix, i = {prefix}, {suffix}, 0
  mine, at, ran_out = {{}}, 0, false
  for value in io.lines({values}) do
    if i % {threads} == id then mine[#mine + 1] = prefix .. value .. suffix end
    i = i + 1
  end
end
function request()
  at = at + 1
  if at > #mine then at, ran_out = 1, true end
  return mine[at]
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def lua_string(value: str | bytes) -> str:
    data = value.encode("latin-1") if isinstance(value, str) else value
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def script(request: Request, host: str, port: int, threads: int, values_path: Path) -> str:
    """The Lua script for one run (``values_path`` is written only for a fresh request)."""
    if request.fresh_header:
        prefix, suffix = request.frame(host, port)
        values_path.write_text("".join(f"{value}\n" for value in request.fresh_values))
        body = _FRESH.format(prefix=lua_string(prefix), suffix=lua_string(suffix),
                             values=lua_string(str(values_path)), threads=threads)
    else:
        headers = "\n".join(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
                            for name, value in request.headers)
        body = _STATIC.format(method=lua_string(request.method), path=lua_string(request.path),
                              body=lua_string(request.body), headers=headers)
    return body + _DONE


def run_wrk(host: str, port: int, request: Request, *, connections: int,
            duration: float, threads: int | None = None) -> Result:
    threads = max(1, min(connections, threads or default_processes()))
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        path = Path(tmp) / "request.lua"
        path.write_text(script(request, host, port, threads, Path(tmp) / "values.txt"))
        seconds = max(1, round(duration))
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
             "--timeout", "10s", "-s", str(path), f"http://{host}:{port}{request.path}"],
            capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    result = Result("wrk", connections)
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["BENCH"]:
            result.requests, micros, result.errors, result.non_2xx = map(int, words[1:5])
            result.elapsed = micros / 1e6
        elif words[:1] == ["LATENCY"]:
            result.p50, result.p99 = (float(w) / 1e6 for w in words[1:3])
        elif words[:1] == ["RANOUT"]:
            result.ran_out = True
    return result
