"""Every ``connect()`` in an ``strace -f -e trace=connect,execve,clone,clone3,fork,vfork`` log, by
destination (a Unix socket, loopback, or off the host) and by program (each process is named by what it last
executed, or else by its parent's program). The air-gap test passes only when no program but the test's
browser tried to reach past loopback, and the browser's pages requested nothing off the host."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_PID = re.compile(r"^(?P<pid>\d+)\s+")
_CONNECT = re.compile(r"connect\(\d+, \{sa_family=(?P<family>AF_[A-Z0-9]+)(?P<rest>[^}]*)\}")
_EXECVE = re.compile(r'execve\("(?P<path>[^"]+)"')
_EXECVE_FAILED = re.compile(r"= -1 E[A-Z]+")
_CHILD = re.compile(r"(?:clone3?|fork|vfork)(?: resumed>)?.*\) = (?P<child>\d+)$")
_IPV4 = re.compile(r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<addr>[^"]+)"\)')
_IPV6 = re.compile(r'sin6_port=htons\((?P<port>\d+)\).*inet_pton\(AF_INET6, "(?P<addr>[^"]+)"')
LOCAL_FAMILIES = frozenset({"AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"})
#: The test machine's browser (Debian's chromium): not part of GeoLabel. Its pages' requests are checked
#: separately (every request a page made is recorded); its own probes are reported, not counted against us.
BROWSER_PROGRAMS = ("/usr/lib/chromium/", "/usr/bin/chromium")


@dataclass
class Connections:
    by_destination: Counter[str] = field(default_factory=Counter)
    off_host: list[str] = field(default_factory=list)
    browser_own: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_destination.values())


def is_loopback(address: str) -> bool:
    return address.startswith(("127.", "::ffff:127.")) or address == "::1"


def read_trace(path: Path) -> Connections:
    found = Connections()
    program: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        pid_match = _PID.match(line)
        if pid_match is None:
            continue
        pid = pid_match["pid"]
        if (child := _CHILD.search(line)) is not None:
            program.setdefault(child["child"], program.get(pid, "?"))
            continue
        if (executed := _EXECVE.search(line)) is not None:
            # /proc/self/exe: a program starting itself again (chromium's zygote) stays what it was.
            if not _EXECVE_FAILED.search(line) and executed["path"] != "/proc/self/exe":
                program[pid] = executed["path"]
            continue
        if (call := _CONNECT.search(line)) is None:
            continue
        family, rest = call["family"], call["rest"]
        if family in LOCAL_FAMILIES:
            found.by_destination["unix socket" if family in ("AF_UNIX", "AF_LOCAL") else family] += 1
            continue
        address = _IPV4.search(rest) if family == "AF_INET" else _IPV6.search(rest)
        where = f"{address['addr']}:{address['port']}" if address else family
        if address is not None and is_loopback(address["addr"]):
            found.by_destination["loopback"] += 1
            continue
        who = program.get(pid, "?")
        found.by_destination[f"{where} ({who})"] += 1
        entry = f"{who}: {line.strip()}"
        if who.startswith(BROWSER_PROGRAMS):
            found.browser_own.append(entry)
        else:
            found.off_host.append(entry)
    return found
