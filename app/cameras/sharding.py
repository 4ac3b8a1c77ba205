"""Cameras spread over replicas. Each camera belongs to the live replica that ranks highest for it
(rendezvous hashing), so every camera has exactly one owner, and a replica that goes away moves only its own
cameras. The live replicas are what the peer names resolve to: in Kubernetes, a headless Service, which lists the
ready pods only."""
import hashlib
import socket
from collections.abc import Iterable


def owner(camera: str, peers: Iterable[str]) -> str | None:
    """The peer that watches `camera`; None when there is no peer."""
    return max(peers, key=lambda peer: hashlib.sha256(f"{camera}|{peer}".encode()).digest(), default=None)


def resolve_peers(names: list[str]) -> set[str]:
    """The addresses the peer names resolve to now; a name that does not resolve adds none."""
    addresses = set()
    for name in names:
        try:
            addresses |= {info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
        except OSError:
            pass
    return addresses


def own_address() -> str:
    """This host's address, as the peers' names resolve to it (MASKWATCH_CAMERA_SELF says it where this guesses wrong)."""
    return socket.gethostbyname(socket.gethostname())
