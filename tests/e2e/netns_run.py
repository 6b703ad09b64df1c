#!/usr/bin/python3
"""Run a command inside a fresh network namespace that holds only loopback.

    netns_run.py [--timeout SECONDS] COMMAND [ARG...]

Creates `cg-<random>`, brings `lo` up, runs COMMAND there in its own process
group and exits with COMMAND's exit status (128+N if a signal ended it, 124
on timeout). Whatever happens -- success, failure, timeout, SIGTERM or
SIGINT to this script -- every process left in the namespace is killed and
the namespace is deleted, so one broken suite cannot leak servers or
namespaces into the next.

Exits 77 (ctest SKIP_RETURN_CODE) with a SKIP line when not root or when
`ip netns` does not work here.

The timeout defaults to CG_E2E_TIMEOUT or 270 s: below ctest's 300 s, so
this script, not ctest's SIGKILL, ends a hung suite and still cleans up.
"""
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77
TIMEOUT_EXIT = 124


class Interrupted(Exception):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def on_signal(signum, frame):
    raise Interrupted(signum)


def ip(*args, check=True):
    return subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=check)


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def kill_group(proc):
    """SIGTERM the command's process group, give its leader a moment, then
    SIGKILL whatever is left of the group."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def kill_namespace_pids(name):
    """Kill processes that left the group (setsid, double fork) but stayed
    in the namespace."""
    for _ in range(10):
        res = ip("netns", "pids", name, check=False)
        pids = [int(p) for p in res.stdout.split() if p.isdigit()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def main(argv):
    timeout = float(os.environ.get("CG_E2E_TIMEOUT", "270"))
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--timeout":
        timeout = float(args[1])
        args = args[2:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        skip("network namespaces need root (run the end-to-end suites as root)")
    if shutil.which("ip") is None:
        skip("the `ip` command (iproute2) is not installed")

    name = "cg-" + secrets.token_hex(4)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    proc = None
    created = False
    status = 1
    try:
        res = ip("netns", "add", name, check=False)
        if res.returncode != 0:
            skip(f"`ip netns add` failed: {res.stderr.strip()}")
        created = True
        ip("-n", name, "link", "set", "lo", "up")
        proc = subprocess.Popen(["ip", "netns", "exec", name, *args], start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            status = rc if rc >= 0 else 128 - rc
        except subprocess.TimeoutExpired:
            print(f"netns_run: TIMEOUT: {' '.join(args)} still running after {timeout:.0f} s; "
                  "killing it", file=sys.stderr, flush=True)
            status = TIMEOUT_EXIT
    except Interrupted as e:
        print(f"netns_run: got signal {e.signum}; cleaning up", file=sys.stderr, flush=True)
        status = 128 + e.signum
    finally:
        # No more interruptions while cleaning up.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        kill_group(proc)
        if created:
            kill_namespace_pids(name)
            res = ip("netns", "del", name, check=False)
            if res.returncode != 0:
                print(f"netns_run: could not delete namespace {name}: {res.stderr.strip()}",
                      file=sys.stderr)
                if status == 0:
                    status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
