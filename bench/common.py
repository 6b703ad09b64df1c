"""What the benchmarks share: ports, the loopback-only check, a clipgate
(or reference server) run in the background with its log in a file, the
machine's description for the results, and writing one benchmark's section
of bench/results.md.
"""
import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_only():
    """True inside a network namespace holding only lo (bench/run.sh)."""
    res = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    names = [l.split(":")[1].strip().split("@")[0] for l in res.stdout.splitlines() if ":" in l]
    return res.returncode == 0 and names == ["lo"]


def require_netns_and_bin(script, binary):
    """SystemExit unless this runs in a loopback-only network namespace
    with an executable clipgate at binary; script names the benchmark."""
    if not loopback_only():
        raise SystemExit(f"{script}: run it in a loopback-only network namespace "
                         "(bench/run.sh does that)")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{script}: no clipgate binary at {binary} (--bin)")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def sanitized(path):
    """True when the binary at path was built with ASan."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def kill_group(proc):
    """SIGKILL to proc's process group if proc still runs; then reaps it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def clipgate_argv(binary, http_port, data_dir, extra=(), events=True):
    """clipgate on 127.0.0.1: http_port, a free media port, a free events
    port (or the events server off), data under data_dir; extra options
    last."""
    return [binary, "--http-port", str(http_port),
            "--media-port", str(free_port(socket.SOCK_DGRAM)),
            "--events-port", str(free_port()) if events else "0",
            "--public-ip", "127.0.0.1", "--data-dir", data_dir, *extra]


class Server:
    """A background process in its own process group with its log in a
    file."""

    def __init__(self, argv, log_path, stop_timeout=20):
        self.log_path = log_path
        self.stop_timeout = stop_timeout
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_http(self, url, timeout=20):
        """Waits until url answers (any HTTP status); SystemExit when the
        process exits first or nothing answers within timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.log_path}: exited {self.proc.returncode}")
            try:
                urllib.request.urlopen(url, timeout=2).read()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"no answer from {url} within {timeout} s")

    def stop(self):
        """SIGTERM, then SIGKILL to the group after stop_timeout seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def write_section(path, text, heading):
    """Replaces a benchmark's section of path (from its heading to the next
    top-level heading) or appends it; the rest is kept."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    start = old.find(heading)
    if start < 0:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + text
    else:
        m = re.search(r"^# ", old[start + len(heading):], re.M)
        end = start + len(heading) + m.start() if m else len(old)
        rest = old[end:]
        new = old[:start] + text + ("\n" + rest if rest else "")
    with open(path, "w") as f:
        f.write(new)


# ------------------------------------------------ the reference servers
# aiortc_whip_server.py and aiortc_whep_relay.py speak just enough HTTP/1.1
# for the WHIP/WHEP exchanges and GET /stats: one request per connection.

async def read_request(reader):
    """(method, path, body, loop time when the head was in) of one request,
    or None when the peer closed before a whole head."""
    try:
        request = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    head_at = asyncio.get_running_loop().time()
    lines = request.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return method, path, body, head_at


async def respond(writer, status, reason, body=b"", headers=()):
    """Sends one response and closes the connection."""
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}",
            "Connection: close", *headers]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    writer.close()


def serve_forever(handle):
    """Serves handle(reader, writer) on 127.0.0.1:--port until interrupted."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", args.port)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
