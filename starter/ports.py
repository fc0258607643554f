"""Which local ports ``payments dev`` needs, and who holds one that is taken.

Checked before anything starts, so a taken port is one plain line naming the port, what
it was for and the process holding it, instead of a server that attaches to someone
else's Temporal or a relay that dies with a traceback.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"  # TCP state of a listening socket in /proc/net/tcp


@dataclass(frozen=True)
class Port:
    """A port ``payments dev`` is about to bind.

    Attributes:
        purpose: what it is for, as the user knows it ("Temporal frontend").
        host: the address to bind.
        port: the port number.
        setting: the PAYMENTS_* variable that moves it.
    """

    purpose: str
    host: str
    port: int
    setting: str


class PortTaken(RuntimeError):
    """A port ``payments dev`` needs is held by another process."""


def check_free(ports: list[Port]) -> None:
    """Raise :class:`PortTaken` for the first port something else listens on.

    Raises:
        PortTaken: with one plain line: the port, its purpose, the holder and the setting.
    """
    for wanted in ports:
        if wanted.port == 0:
            continue
        if _free(wanted.host, wanted.port):
            continue
        holder = holder_of(wanted.port) or "another process"
        raise PortTaken(
            f"port {wanted.port} ({wanted.purpose}) is taken by {holder}; "
            f"stop it or set {wanted.setting}"
        )


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers will bind it: reusing TIME_WAIT sockets is fine, a listener not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((_ipv4(host), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _ipv4(host: str) -> str:
    return "127.0.0.1" if host in ("", "localhost") else host


def holder_of(port: int) -> str | None:
    """``pid 1234 (temporal)`` for the process listening on ``port``, if Linux tells."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _holds(entry, inodes):
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                name = "?"
            return f"pid {entry.name} ({name})"
    return None


def _holds(process: Path, sockets: set[str]) -> bool:
    """Whether the process behind ``/proc/<pid>`` has one of ``sockets`` open."""
    try:
        descriptors = list((process / "fd").iterdir())
    except OSError:
        return False  # another user's process, or gone
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) in sockets:
                return True
        except OSError:
            continue  # closed meanwhile
    return False
