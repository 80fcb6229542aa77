"""Start and stop a real Milvus standalone server (the PyPI package `milvus`) for the tests and CI.

    python scripts/milvus_server.py start --data DIR [--port 19530] [--auth]   # prints URI, writes DIR/milvus.pid
    python scripts/milvus_server.py stop --data DIR                            # by the pid in DIR/milvus.pid

The package `milvus` (2.3.5) unpacks a Milvus server binary into DIR/bin and runs it as `milvus run standalone`
with an embedded etcd and RocksMQ: one process, data under DIR. `start` returns when the server answers its
health check, leaving the server running with its pid in DIR/milvus.pid and its URI in DIR/milvus.uri.

Two facts measured here shape this script:
- The server listens on every interface (`*:19530` and its internal ports), whatever `proxy.ip` says; only
  etcd binds to 127.0.0.1. Start it where loopback is the only interface (`unshare --net`, as `.ci/run`
  does) if the machine has other interfaces: `start` refuses otherwise unless --exposed-ok.
- A SIGTERM begins a graceful stop that did not finish within 60 s here (the proxy kept answering with its
  coordinators gone), so `stop` sends SIGTERM, waits 5 s, then SIGKILL. After a kill, a new server waits for
  the old sessions' etcd leases to lapse before it serves: `common.session.ttl` is set to 5 s (default 30 s),
  so a restart takes about 10 s instead of about 60 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

SESSION_TTL_SECONDS = 5
STOP_GRACE_SECONDS = 5.0
ROOT_TOKEN = "root:Milvus"  # the default root user of a server started with --auth


def only_loopback() -> bool:
    """True when loopback is the only network interface this process sees (a network namespace of its own)."""
    return all(name == "lo" for _, name in socket.if_nameindex())


def start(data: Path, port: int = 19530, auth: bool = False, timeout: float = 120.0,
          exposed_ok: bool = False) -> tuple[int, str]:
    """Start a server with its data in `data`; return (pid, uri) once it answers. `port` is where the
    proxy listens (the next free port above it when taken)."""
    from milvus import MilvusServer, MilvusServerConfig

    if not only_loopback() and not exposed_ok:
        raise SystemExit("the Milvus server listens on every interface and this network namespace has more than "
                         "loopback: run it under `unshare --net` (as .ci/run does), or pass --exposed-ok.")
    data = Path(data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    config = MilvusServerConfig()
    server = MilvusServer(config, wait_for_started=False)
    server.set_base_dir(str(data))
    server.listen_port = int(port)
    config.set("authorization_enabled", bool(auth))
    config.set("common.session.ttl", SESSION_TTL_SECONDS)
    server.start()
    process = server.server_proc
    server.server_proc = None  # the package would stop it when this object goes away: it must outlive us
    (data / "milvus.pid").write_text(str(process.pid))
    uri = f"http://127.0.0.1:{server.listen_port}"
    (data / "milvus.uri").write_text(uri)
    health = f"http://127.0.0.1:{server.webservice_port}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the Milvus server exited with code {process.returncode}; see {data}/logs.")
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if b"OK" in response.read():
                    return process.pid, uri
        except OSError:
            pass
        time.sleep(0.2)
    stop(data)
    raise SystemExit(f"the Milvus server did not answer {health} within {timeout:.0f} s; see {data}/logs.")


def stop(data: Path) -> bool:
    """Stop the server whose pid is in `data`/milvus.pid: SIGTERM, then SIGKILL after a grace period.
    Returns whether a process was stopped."""
    pid_file = Path(data) / "milvus.pid"
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.05)
    return True


def kill(data: Path) -> None:
    """Kill the server at once (SIGKILL), as a crash would; its data stays."""
    pid_file = Path(data) / "milvus.pid"
    pid = int(pid_file.read_text())
    pid_file.unlink()
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not _alive(pid):
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # our child when started from this process
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of another parent counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--data", type=Path, required=True, help="the server's folder (data, logs, pid file)")
    parser.add_argument("--port", type=int, default=19530)
    parser.add_argument("--auth", action="store_true", help=f"require a token (the root user: {ROOT_TOKEN})")
    parser.add_argument("--exposed-ok", action="store_true",
                        help="start even where interfaces other than loopback exist (the server listens on all)")
    args = parser.parse_args(argv)
    if args.action == "start":
        pid, uri = start(args.data, args.port, args.auth, exposed_ok=args.exposed_ok)
        print(f"Milvus server pid {pid} at {uri}", flush=True)
    else:
        print("stopped" if stop(args.data) else "no server running", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
