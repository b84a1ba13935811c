"""Who holds a lease: poller ids (host:pid:random) and whether such a poller is still alive."""

from __future__ import annotations

import os
import socket
import uuid


def _host() -> str:
    # Cut so that a poller id always fits the store's 64-character lease_owner column.
    return socket.gethostname()[:40]


def poller_id() -> str:
    """host:pid:random — unique per poller, and says which process holds a lease."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner (see poller_id) is a process of this host that no longer exists,
    e.g. a worker killed with -9. Other hosts and live pids count as alive (their leases simply
    expire); a recycled pid only delays the take-over until then."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: the process exists, it just is not ours
        return False
    return False
