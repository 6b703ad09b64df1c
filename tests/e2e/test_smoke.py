"""Smoke suite: the real clipgate binary in a fresh network namespace.

/healthz, /metrics counting requests, 404 and 405 problem bodies, CORS and
preflight, the body limit, odd paths, HTTPS with a certificate made at test
time, SIGTERM/SIGINT ending the process with 0, and Chromium reaching the
server through the browser harness."""
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest

import harness
from harness import http_request, metric

BUILD_INFO = re.compile(r'^clipgate_build_info\{version="[0-9][^"]*"\} 1$', re.M)


class Smoke(harness.ClipgateTestCase):
    def test_healthz(self):
        cg = self.start_clipgate()
        r = http_request("GET", cg.url("/healthz"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_metrics_count_requests(self):
        cg = self.start_clipgate()
        healthz = 'clipgate_http_requests_total{route="healthz",code="200"}'
        unmatched = 'clipgate_http_requests_total{route="unmatched",code="404"}'
        before = http_request("GET", cg.url("/metrics")).text()
        for _ in range(3):
            self.assertEqual(http_request("GET", cg.url("/healthz")).status, 200)
        self.assertEqual(http_request("GET", cg.url("/no/such/thing")).status, 404)
        r = http_request("GET", cg.url("/metrics"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        text = r.text()
        self.assertRegex(text, BUILD_INFO)
        self.assertIn("# TYPE clipgate_uptime_seconds gauge\n", text)
        self.assertIn("# TYPE clipgate_http_requests_total counter\n", text)
        self.assertEqual(metric(text, healthz) - metric(before, healthz), 3)
        self.assertEqual(metric(text, unmatched) - metric(before, unmatched), 1)
        # The first /metrics request is counted too.
        self.assertGreaterEqual(
            metric(text, 'clipgate_http_requests_total{route="metrics",code="200"}'), 1)

    def test_not_found_is_problem_json(self):
        cg = self.start_clipgate()
        r = http_request("GET", cg.url("/live"))
        doc = self.assertProblem(r, 404)
        self.assertIn("/live", doc["detail"])
        self.assertEqual(doc["title"], "Not Found")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_wrong_method_is_405_with_allow(self):
        cg = self.start_clipgate()
        r = http_request("DELETE", cg.url("/healthz"))
        self.assertProblem(r, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD, OPTIONS")

    def test_cors(self):
        cg = self.start_clipgate()
        r = http_request("GET", cg.url("/metrics"), headers={"Origin": "http://example.org"})
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        exposed = [h.strip() for h in r.header("Access-Control-Expose-Headers").split(",")]
        for name in ("Location", "ETag", "Link", "Content-Range", "Preview-Start-Seconds",
                     "Stream-Media-Id"):
            self.assertIn(name, exposed)

        r = http_request("OPTIONS", cg.url("/healthz"), headers={
            "Origin": "http://example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertEqual(r.header("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS")
        allowed = [h.strip().lower() for h in r.header("Access-Control-Allow-Headers").split(",")]
        for name in ("authorization", "content-type", "if-match", "range"):
            self.assertIn(name, allowed)
        self.assertGreater(int(r.header("Access-Control-Max-Age")), 0)

        r = http_request("OPTIONS", cg.url("/nowhere"))
        self.assertProblem(r, 404)

    def test_body_over_limit_is_413(self):
        cg = self.start_clipgate()  # default --max-body: 256 KiB
        r = http_request("POST", cg.url("/healthz"), body=b"x" * (256 * 1024 + 1),
                         headers={"Content-Type": "application/octet-stream"})
        doc = self.assertProblem(r, 413)
        self.assertIn("262145", doc["detail"])
        self.assertIn("262144", doc["detail"])
        # At the limit the body is accepted, and the method check answers.
        r = http_request("POST", cg.url("/healthz"), body=b"x" * (256 * 1024))
        self.assertProblem(r, 405)
        # A smaller configured limit.
        small = self.start_clipgate("--max-body", "1k")
        self.assertProblem(http_request("POST", small.url("/healthz"), body=b"y" * 1025), 413)

    def test_odd_paths(self):
        cg = self.start_clipgate()
        for path in ("/healthz/../healthz", "/%2e%2e/etc/passwd", "/a%00b", "/a%2Fb",
                     "/bad%zz", "/healthz?x=%G0"):
            r = http_request("GET", cg.url(path))
            self.assertProblem(r, 400)
        r = http_request("GET", cg.url("/" + "a" * 9000))
        self.assertProblem(r, 414)
        try:
            r = http_request("GET", cg.url("/" + "b" * 100000))
            self.assertIn(r.status, (400, 414, 431))
        except (ConnectionError, OSError):
            pass  # refusing by closing is fine too; surviving is what matters
        self.assertEqual(http_request("GET", cg.url("/healthz")).status, 200)

    def test_https(self):
        tmp = tempfile.mkdtemp(prefix="cg-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = harness.make_test_certificate(tmp)
        ctx = ssl.create_default_context(cafile=cert)
        cg = self.start_clipgate("--tls-cert", cert, "--tls-key", key, tls=True, ssl_context=ctx)
        r = http_request("GET", cg.url("/healthz"), ssl_context=ctx)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertProblem(http_request("GET", cg.url("/nope"), ssl_context=ctx), 404)
        # The certificate presented is the one configured.
        with socket.create_connection(("127.0.0.1", cg.http_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                der = tls.getpeercert(binary_form=True)
        with open(cert) as f:
            self.assertEqual(der, ssl.PEM_cert_to_DER_cert(f.read()))
        # A client that does not trust it is refused.
        with self.assertRaises(ssl.SSLCertVerificationError):
            http_request("GET", cg.url("/healthz"), ssl_context=ssl.create_default_context())
        # Plain HTTP on the TLS port gets no HTTP answer.
        try:
            r = http_request("GET", f"http://127.0.0.1:{cg.http_port}/healthz", timeout=5)
        except (OSError, http.client.HTTPException):
            pass
        else:
            self.assertNotEqual(r.status, 200, "plain HTTP answered on the HTTPS port")

    def _stop_with(self, sig):
        cg = self.start_clipgate()
        pid = cg.proc.pid
        cg.send_signal(sig)
        rc = cg.proc.wait(timeout=harness.STOP_TIMEOUT)
        self.assertEqual(rc, 0, cg.log())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", cg.http_port), timeout=5).close()
        self.assertIn("shutting down", cg.log())

    def test_sigterm_exits_zero(self):
        self._stop_with(signal.SIGTERM)

    def test_sigint_exits_zero(self):
        self._stop_with(signal.SIGINT)

    def test_browser(self):
        node = shutil.which("node")
        chromium = os.environ.get("CG_CHROMIUM", "/usr/bin/chromium")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser_smoke.mjs")
        if not node or not os.path.exists(chromium):
            self.skipTest("node or Chromium is not installed (scripts/setup.sh installs them)")
        if not os.path.isdir(os.path.join(harness.SOURCE_DIR, "node_modules", "playwright-core")):
            self.skipTest("playwright-core is not installed (run scripts/setup.sh)")
        cg = self.start_clipgate()
        preflights = 'clipgate_http_requests_total{route="healthz",code="204"}'
        env = dict(os.environ)
        env.setdefault("HOME", tempfile.gettempdir())
        p = subprocess.run([node, script, f"http://127.0.0.1:{cg.http_port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=150, env=env)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("browser smoke: ok", p.stdout)
        # Chromium really sent a CORS preflight, and clipgate answered it.
        text = http_request("GET", cg.url("/metrics")).text()
        self.assertGreaterEqual(metric(text, preflights), 1)


if __name__ == "__main__":
    unittest.main()
