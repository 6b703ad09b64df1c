"""One peer process (a publisher or a viewer from tests/e2e/peers) run by
an end-to-end suite: started in its own process group, stdout and stderr
drained into memory so a chatty peer never blocks on a full pipe, killed
as a group, and read back as the JSON line every peer prints last.

whip_util.Publisher, hls_util.Publisher and whep_util.Viewer are this
with their own command lines.
"""
import json
import os
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


class PeerProc:
    """argv started now in HERE; peer names it in describe(), after it
    `label` (e.g. " viewer"); describe() keeps the last tail[0] characters
    of stdout and tail[1] of stderr."""

    label = ""
    tail = (3000, 6000)

    def __init__(self, peer, argv):
        self.peer = peer
        self.argv = argv
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=HERE, start_new_session=True)
        self.stdout = self.stderr = ""
        self._out, self._err = [], []
        self._threads = [threading.Thread(target=self._drain, args=(p, acc), daemon=True)
                         for p, acc in ((self.proc.stdout, self._out),
                                        (self.proc.stderr, self._err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(pipe, acc):
        for chunk in iter(lambda: pipe.read1(65536), b""):
            acc.append(chunk)

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Waits for the exit (kills the process group after timeout);
        returns the exit status."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        for t in self._threads:
            t.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            pipe.close()
        self.stdout = b"".join(self._out).decode("utf-8", "replace")
        self.stderr = b"".join(self._err).decode("utf-8", "replace")
        return self.proc.returncode

    def kill(self):
        """SIGKILL to the whole group: the peer vanishes without a word."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if not self.proc.stdout.closed:
            self.wait(5)

    def result(self):
        """The JSON line the peer printed last (None if none)."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        return None

    def describe(self):
        out, err = self.tail
        return (f"{self.peer}{self.label} ({' '.join(self.argv)}) exited {self.proc.returncode}\n"
                f"--- stdout ---\n{self.stdout[-out:]}\n--- stderr ---\n{self.stderr[-err:]}")
