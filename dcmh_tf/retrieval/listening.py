"""The service's listening socket, bound before anything is loaded: a busy port fails at once, and the
address `serve` announces is the one it holds (no other server can answer it in the meantime)."""

from __future__ import annotations

import errno
import socket

from dcmh_tf.errors import DcmhError


class PortError(DcmhError):
    """The service cannot listen on the address asked for (port in use, address unknown, no permission)."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening, as uvicorn would make it (SO_REUSEADDR, so a port
    left in TIME_WAIT by a previous server is reused; a port another program listens on is not).
    Raises `PortError` with a free port to use instead."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise PortError(f"--host {host}: expected an address of this machine (e.g. 127.0.0.1 or 0.0.0.0), "
                        f"received one that does not resolve ({error.strerror}).") from None
    family, kind, protocol, _, address = infos[0]
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            free = free_port(host, port)
            raise PortError(f"port {port} on {host} is in use by another program; serve on another port with "
                            f"--port {free}" + (" (free now)." if free else ".")) from None
        if error.errno == errno.EACCES:
            raise PortError(f"port {port} on {host}: permission denied (ports below 1024 need root); "
                            f"use --port 8000 or above.") from None
        if error.errno == errno.EADDRNOTAVAIL:
            raise PortError(f"--host {host}: not an address of this machine; use 127.0.0.1 (this machine only) "
                            f"or 0.0.0.0 (every interface).") from None
        raise PortError(f"cannot listen on {host}:{port} ({error.strerror}).") from None
    sock.set_inheritable(True)
    return sock


def free_port(host: str, busy: int) -> int | None:
    """The first port after `busy` (up to 100 further) that can be bound on `host` now, or None."""
    for port in range(busy + 1, min(busy + 101, 65536)):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
            except OSError:
                continue
            return port
    return None
