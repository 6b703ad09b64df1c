"""Command line and config file of the real binary: each mistake gives exit
code 2 and one line on stderr naming the problem; --help lists every
option; flags override the config file."""
import json
import os
import shutil
import socket
import tempfile
import unittest

import harness
from harness import http_request, run_clipgate

# Every option of the configuration, as documented (DESIGN.md "Running").
OPTIONS = [
    "config", "http-port", "media-port", "events-port", "events-queue", "bind", "data-dir",
    "public-ip", "publish-token", "play-token", "tls-cert", "tls-key", "ice-server", "log-level",
    "max-sessions", "max-viewers", "max-body", "segment-duration", "live-window", "preview-cap",
    "retention", "audio-codec", "reconnect-grace", "max-clip-duration", "dump-dir",
    "consent-timeout", "help", "version",
]


class Cli(harness.ClipgateTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cg-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assertConfigError(self, args, *needles):
        """Exit 2, nothing on stdout, exactly one stderr line holding every
        needle; returns that line."""
        p = run_clipgate(*args, cwd=self.tmp)
        self.assertEqual(p.returncode, 2, f"{args}: {p.stderr}")
        self.assertEqual(p.stdout, "")
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"{args}: expected one line, got {p.stderr!r}")
        self.assertTrue(lines[0].startswith("clipgate: "), lines[0])
        for needle in needles:
            self.assertIn(needle, lines[0])
        return lines[0]

    def test_unknown_option(self):
        line = self.assertConfigError(["--htp-port", "8080"], '"--htp-port"')
        self.assertEqual(line, 'clipgate: unknown option "--htp-port" (see --help)')
        self.assertConfigError(["stray-argument"], '"stray-argument"')

    def test_missing_value(self):
        line = self.assertConfigError(["--data-dir"], "--data-dir")
        self.assertEqual(line, "clipgate: --data-dir needs a value (--data-dir DIR)")

    def test_bad_port(self):
        line = self.assertConfigError(["--http-port", "70000"])
        self.assertEqual(line, 'clipgate: --http-port: "70000" is not a port (1-65535)')
        self.assertConfigError(["--media-port", "udp"], "--media-port", '"udp"')
        self.assertConfigError(["--events-port=65536"], "--events-port", '"65536"', "0-65535")

    def test_bad_values(self):
        self.assertConfigError(["--segment-duration", "fast"], "--segment-duration", '"fast"')
        self.assertConfigError(["--retention", "1w"], "--retention", '"1w"')
        self.assertConfigError(["--audio-codec", "mp3"], "--audio-codec", '"mp3"')
        self.assertConfigError(["--public-ip", "example.org"], "--public-ip", '"example.org"')

    def test_unparsable_config_file(self):
        path = self.write("config.json", '{\n  "http-port": 8080,,\n}\n')
        self.assertConfigError(["--config", path], f"{path}:2:", "not valid JSON")

    def test_unknown_config_key(self):
        path = self.write("config.json", '{\n  "http-port": 8080,\n  "htp-port": 9090\n}\n')
        line = self.assertConfigError(["--config", path])
        self.assertEqual(line, f'clipgate: {path}:3:3: unknown key "htp-port"')

    def test_wrong_type_in_config(self):
        path = self.write("config.json", '{"http-port": "8080"}')
        self.assertConfigError(["--config", path], f"{path}:1:2", '"http-port"', "whole number")
        path = self.write("bad-port.json", '{"media-port": 70000}')
        self.assertConfigError(["--config", path], "media-port", '"70000" is not a port')

    def test_missing_config_file(self):
        path = os.path.join(self.tmp, "missing.json")
        self.assertConfigError(["--config", path], "--config", path, "No such file")

    def test_uncreatable_data_dir(self):
        blocker = self.write("a-file", "not a directory\n")
        target = os.path.join(blocker, "data")
        self.assertConfigError(["--data-dir", target, "--http-port", str(harness.free_port())],
                               "--data-dir", blocker)

    def test_unreadable_tls_files(self):
        path = os.path.join(self.tmp, "missing-cert.pem")
        self.assertConfigError(["--tls-cert", path, "--tls-key", path], "--tls-cert", path)
        self.assertConfigError(["--tls-key", path], "--tls-key", "--tls-cert")

    def test_port_in_use(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            p = run_clipgate("--bind", "127.0.0.1", "--http-port", str(port), "--data-dir",
                             os.path.join(self.tmp, "data"), cwd=self.tmp)
        self.assertEqual(p.returncode, 2, p.stderr)
        last = p.stderr.splitlines()[-1]
        self.assertIn("cannot start the HTTP server", last)
        self.assertIn(str(port), last)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            p = run_clipgate("--bind", "127.0.0.1", "--http-port", str(harness.free_port()),
                             "--events-port", str(port), "--data-dir",
                             os.path.join(self.tmp, "data"), cwd=self.tmp)
        self.assertEqual(p.returncode, 2, p.stderr)
        last = p.stderr.splitlines()[-1]
        self.assertEqual(last, f"clipgate: cannot start the events server on 127.0.0.1 port "
                         f"{port}: Address already in use")

    def test_help_lists_every_option(self):
        p = run_clipgate("--help", cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("Usage: clipgate"), p.stdout)
        for name in OPTIONS:
            self.assertRegex(p.stdout, rf"(?m)^  --{name}\b", f"--help lacks --{name}")
        self.assertIn("(default: 8080)", p.stdout)
        self.assertEqual(p.stderr, "")

    def test_version(self):
        p = run_clipgate("--version", cwd=self.tmp)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^clipgate [0-9]+\.[0-9]+\.[0-9]+\n$")

    def test_flag_overrides_config_file(self):
        file_port, flag_port = harness.free_port(), harness.free_port()
        path = self.write("config.json", json.dumps({
            "http-port": file_port,
            "data-dir": os.path.join(self.tmp, "from-file"),
            "max-body": "1k",
        }))
        cg = harness.Clipgate("--config", path, "--http-port", str(flag_port), ports=False,
                              workdir=tempfile.mkdtemp(prefix="cg-e2e-"))
        cg.http_port = flag_port
        self._servers.append(cg)
        cg.start()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", file_port), timeout=5).close()
        # What the flag did not override comes from the file.
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "from-file")))
        r = http_request("POST", cg.url("/healthz"), body=b"z" * 1025)
        self.assertProblem(r, 413)

    def test_config_file_alone(self):
        port = harness.free_port()
        path = self.write("config.json", json.dumps({
            "http-port": port, "data-dir": os.path.join(self.tmp, "d"),
            "public-ip": ["127.0.0.1"], "segment-duration": "4s"}))
        cg = harness.Clipgate("--config", path, ports=False,
                              workdir=tempfile.mkdtemp(prefix="cg-e2e-"))
        cg.http_port = port
        self._servers.append(cg)
        cg.start()
        self.assertEqual(http_request("GET", cg.url("/healthz")).status, 200)


if __name__ == "__main__":
    unittest.main()
