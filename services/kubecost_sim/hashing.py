"""Counter-based randomness: every value is a pure function of its coordinates.

The simulator never touches global random state, so any hour of any workload can be generated
alone, in any order, in any process, and come out identical. Static topology uses a
cryptographic hash of readable parts (slow, run once per cluster); the per-hour path uses the
splitmix64 finaliser (a few integer operations) because it runs for every container-hour.
"""

from __future__ import annotations

import hashlib

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def mix64(x: int) -> int:
    """Bijective 64-bit avalanche mixer (splitmix64's finaliser)."""
    x = (x + _GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def stable_hash(*parts: object) -> int:
    """64-bit hash of the parts' text, independent of PYTHONHASHSEED and of the platform."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def stable_hex(length: int, *parts: object) -> str:
    """Lower-case hex digits derived from the parts, for instance and volume ids."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return hashlib.blake2b(text, digest_size=32).hexdigest()[:length]


def k8s_suffix(length: int, *parts: object) -> str:
    """Suffix in the alphabet Kubernetes uses for generated pod and ReplicaSet names."""
    h = stable_hash(*parts)
    out = []
    for _ in range(length):
        h, r = divmod(h, len(_K8S_ALPHABET))
        if h == 0:
            h = stable_hash(h, r, *parts)
        out.append(_K8S_ALPHABET[r])
    return "".join(out)


def unit(h: int) -> float:
    """Map a 64-bit hash to [0, 1)."""
    return (h >> 11) / float(1 << 53)
