"""Helpers for clipgate's end-to-end suites (Debian's /usr/bin/python3,
standard library only).

Suites run inside a fresh network namespace (netns_run.py), so every port
is free and every packet stays on loopback. The binary is CG_BIN (set by
ctest), or build/clipgate under the source tree.

    class MySuite(harness.ClipgateTestCase):
        def test_x(self):
            cg = self.start_clipgate("--max-body", "1k")
            r = harness.http_request("GET", cg.url("/healthz"))
            self.assertEqual(r.status, 200)

Servers started through a ClipgateTestCase are stopped after the test; a
failing test prints their logs.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

SOURCE_DIR = os.environ.get("CG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("CG_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
CG_BIN = os.environ.get("CG_BIN") or os.path.join(BUILD_DIR, "clipgate")

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port nobody listens on right now (TCP by default, or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Response:
    """status, headers as a list of (name, value) in order (repeats kept),
    body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        """First value of a header, case-insensitive."""
        values = self.header_all(name)
        return values[0] if values else default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} {self.body[:200]!r}>"


def http_request(method, url, body=None, headers=None, ssl_context=None, timeout=15.0):
    """One request on a fresh connection; returns a Response. body may be
    bytes or str. Raises OSError if the server cannot be reached."""
    u = urllib.parse.urlsplit(url)
    target = (u.path or "/") + (("?" + u.query) if u.query else "")
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout,
                                           context=ssl_context)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.getheaders(), data)
    finally:
        conn.close()


def loopback_only():
    """True when the only network interface is lo (the suite's own
    namespace, as netns_run.py makes it)."""
    res = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=30)
    names = [line.split(":")[1].strip().split("@")[0]
             for line in res.stdout.splitlines() if ":" in line]
    return res.returncode == 0 and names == ["lo"]


def nft(*args, input_text=None):
    """Runs nft (nftables) with args, input_text on stdin; the
    CompletedProcess."""
    return subprocess.run(["nft", *args], input=input_text, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=30)


def metrics(cg):
    """GET /metrics: the exposition text; AssertionError unless 200."""
    r = http_request("GET", cg.url("/metrics"))
    if r.status != 200:
        raise AssertionError(f"/metrics: {r.status}")
    return r.text()


def metric(text, series, absent=0.0):
    """Value of one exposition line such as 'name{a="b"}' in text, or
    absent when there is none."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[1])
    return absent


class Clipgate:
    """One clipgate process with its own data directory and log file."""

    def __init__(self, *args, tls=False, workdir=None, data_dir=None, ports=True):
        self.workdir = workdir or tempfile.mkdtemp(prefix="cg-e2e-")
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        self.http_port = free_port()
        self.events_port = free_port()  # the live events WebSocket
        self.tls = tls
        self.log_path = os.path.join(self.workdir, "clipgate.log")
        self.args = list(args)
        if ports:
            self.args = ["--http-port", str(self.http_port),
                         "--media-port", str(free_port(socket.SOCK_DGRAM)),
                         "--events-port", str(self.events_port),
                         "--data-dir", self.data_dir] + self.args
        self.proc = None
        self.returncode = None
        self.expected_exit = 0  # checked after the test; None: anything goes
        self._log = None

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def url(self, path="/"):
        return f"{self.scheme}://127.0.0.1:{self.http_port}{path}"

    def events_url(self, path="/events"):
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.events_port}{path}"

    def start(self, ssl_context=None, wait=True):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([CG_BIN, *self.args], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy(ssl_context)
        return self

    def wait_healthy(self, ssl_context=None):
        """Polls /healthz until it answers 200; fails if the process exits."""
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"clipgate exited with {self.proc.returncode} while "
                                     f"starting:\n{self.log()}")
            try:
                r = http_request("GET", self.url("/healthz"), ssl_context=ssl_context,
                                 timeout=2)
                if r.status == 200:
                    return
                last = r
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"clipgate did not answer /healthz within {START_TIMEOUT} s "
                             f"(last: {last!r}):\n{self.log()}")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        """Sends sig and waits; returns the exit status (killed after
        STOP_TIMEOUT, which then returns -9)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        if self._log:
            self._log.close()
            self._log = None
        return self.returncode

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def run_clipgate(*args, timeout=20.0, cwd=None):
    """Runs clipgate to completion (for --help and configuration errors);
    returns CompletedProcess with text stdout and stderr."""
    return subprocess.run([CG_BIN, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=cwd)


def make_test_certificate(directory):
    """Writes a self-signed P-256 certificate for 127.0.0.1/localhost;
    returns (cert_path, key_path)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class ClipgateTestCase(unittest.TestCase):
    """Stops the servers a test started and prints their logs if it failed."""

    def run(self, result=None):
        self._servers = []
        before = (len(result.failures) + len(result.errors)) if result else 0
        try:
            return super().run(result)
        finally:
            failed = result is not None and len(result.failures) + len(result.errors) > before
            for cg in self._servers:
                rc = cg.stop()
                if (rc != cg.expected_exit and cg.expected_exit is not None and result
                        and not failed):
                    # Every server must shut down cleanly on SIGTERM.
                    failed = True
                    try:
                        raise AssertionError(f"clipgate exited with {rc}, expected "
                                             f"{cg.expected_exit} after SIGTERM")
                    except AssertionError:
                        result.addFailure(self, sys.exc_info())
                if failed:
                    sys.stderr.write(f"\n----- clipgate log ({' '.join(cg.args)}) -----\n"
                                     f"{cg.log()}----- end of log -----\n")
                cg.cleanup()

    def start_clipgate(self, *args, tls=False, ssl_context=None, wait=True, **kw):
        cg = Clipgate(*args, tls=tls, **kw)
        self._servers.append(cg)
        return cg.start(ssl_context=ssl_context, wait=wait)

    def assertProblem(self, r, status):
        """An RFC 9457 body with the given status and a real sentence."""
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/problem+json", r)
        doc = r.json()
        self.assertEqual(doc.get("status"), status, doc)
        self.assertEqual(doc.get("type"), "about:blank", doc)
        self.assertTrue(doc.get("title"), doc)
        self.assertGreater(len(doc.get("detail", "")), 20, doc)
        return doc
