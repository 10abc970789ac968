"""Merkle tree hashing and proofs as in Certificate Transparency (RFC 6962, RFC 9162 §2.1).

Pure Python on the standard library: no Django import here, so the offline verifier
(integrity/offline_verifier.py) can use this module on a machine that has only the bundle.

Leaf hash: SHA-256(0x00 || canonical entry). Node hash: SHA-256(0x01 || left || right).
The 0x00/0x01 prefixes keep a leaf from being passed off as an inner node (second-preimage
attack, RFC 6962 §2.1). The tree over n leaves splits at the largest power of two below n,
so a tree only ever grows on its right edge, which is what makes consistency proofs work.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof, a canonical encoding or a checkpoint does not verify; the message says why."""


# -- canonical encoding ----------------------------------------------------------------


def _check_canonical_value(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        # Floats have several textual forms for one value; a hash over them would not be
        # reproducible by an independent verifier. Callers pass integers or strings.
        raise ProofError(f"{where} is a float ({value!r}); pass an integer or a string.")
    if isinstance(value, list | tuple):
        for position, item in enumerate(value):
            _check_canonical_value(item, f"{where}[{position}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProofError(f"{where} has a non-string key {key!r}.")
            _check_canonical_value(item, f"{where}.{key}")
        return
    raise ProofError(f"{where} has a value of type {type(value).__name__}, not JSON.")


def canonical_encode(entry: dict[str, Any]) -> bytes:
    """The one byte string for ``entry``: JSON, sorted keys, no spaces, ASCII only."""
    _check_canonical_value(entry, "entry")
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def _refuse_float(text: str) -> Any:
    raise ProofError(f"entry holds a float ({text}); canonical entries hold none.")


def canonical_decode(body: bytes | str) -> dict[str, Any]:
    """Parse a canonical entry, refusing any byte string that is not its own canonical form."""
    raw = body.encode("ascii") if isinstance(body, str) else body
    try:
        # Floats and NaN are refused while parsing, so re-encoding needs no type walk.
        entry = json.loads(raw, parse_float=_refuse_float, parse_constant=_refuse_float)
    except ProofError:
        raise
    except ValueError as exc:
        raise ProofError(f"entry is not valid JSON: {exc}") from exc
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if not isinstance(entry, dict) or canonical.encode("ascii") != raw:
        raise ProofError("entry is not in canonical form (sorted keys, no spaces, ASCII).")
    return entry


# -- hashing ---------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf *hashes*."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class Frontier:
    """The right edge of a growing tree: one perfect subtree root per set bit of its size.

    Appending is O(1) amortised and the root is O(log n), so a verifier can compare the
    root at every checkpoint size while it streams the leaves once.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # roots of perfect subtrees, left to right

    def append(self, leaf: bytes) -> None:
        node = leaf
        size = self.size
        while size & 1:
            node = node_hash(self._stack.pop(), node)
            size >>= 1
        self._stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


class MerkleTree:
    """All perfect subtree roots over a list of leaf hashes, for fast proofs at any size.

    ``levels[h][i]`` is the root of the 2**h leaves from ``i * 2**h``. Building costs n
    hashes; each proof then costs O(log² n) lookups instead of rehashing the tree.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end); ``start`` is aligned as in every RFC 6962 subtree."""
        if start == end:
            return EMPTY_ROOT
        blocks: list[bytes] = []
        position = start
        while position < end:
            height = (end - position).bit_length() - 1
            while position % (1 << height):
                height -= 1
            blocks.append(self.levels[height][position >> height])
            position += 1 << height
        node = blocks[-1]
        for left in reversed(blocks[:-1]):
            node = node_hash(left, node)
        return node

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofError(f"no tree of {size} leaves in a log of {self.size}.")
        return self.subtree_root(0, size)

    # -- inclusion proofs (RFC 9162 §2.1.3) ------------------------------------------

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]): the sibling hashes from leaf ``index`` up to the root."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ProofError(f"leaf {index} is not in a tree of {size} leaves.")
        path: list[bytes] = []
        start, end = 0, size
        # Walk down from the root, keeping the sibling of each subtree we descend into.
        while end - start > 1:
            k = _split(end - start)
            if index - start < k:
                path.append(self.subtree_root(start + k, end))
                end = start + k
            else:
                path.append(self.subtree_root(start, start + k))
                start = start + k
        path.reverse()
        return path

    # -- consistency proofs (RFC 9162 §2.1.4) ----------------------------------------

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]): shows the old tree is a prefix of the new one."""
        new_size = self.size if new_size is None else new_size
        if not 0 <= old_size <= new_size <= self.size:
            raise ProofError(f"no consistency proof from {old_size} to {new_size} leaves.")
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, start: int, end: int, is_whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if is_whole else [self.subtree_root(start, end)]
        k = _split(n)
        if m <= k:
            return self._subproof(m, start, start + k, is_whole) + [
                self.subtree_root(start + k, end)
            ]
        return self._subproof(m - k, start + k, end, False) + [
            self.subtree_root(start, start + k)
        ]


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves.")
    fn, sn, node = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep.")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep.")
    return node


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"leaf {index} is not included in the tree of {size} leaves.")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless the tree of ``old_size`` is a prefix of that of ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree cannot shrink from {old_size} to {new_size} leaves.")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}.")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty.")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new
        path.insert(0, old_root)
    if not path:
        raise ProofError("consistency proof is empty.")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long.")
        if fn & 1 or fn == sn:
            first = node_hash(node, first)
            second = node_hash(node, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1
        sn >>= 1
    if sn != 0 or first != old_root or second != new_root:
        raise ProofError(
            f"the tree of {new_size} leaves does not extend the tree of {old_size} leaves."
        )


# -- signed checkpoints (tree heads) ------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: origin, size, root and time, signed with Ed25519.

    The signed text follows the C2SP "checkpoint" note layout (origin line, size line,
    base64 root line) with the time as one extension line, so the same bytes can be
    published, pasted in an e-mail or countersigned by a witness.
    """

    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: str  # ISO 8601, UTC
    key_id: str
    signature: bytes

    def signed_text(self) -> bytes:
        return checkpoint_text(self.origin, self.tree_size, self.root_hash, self.timestamp)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        try:
            return cls(
                origin=str(data["origin"]),
                tree_size=int(data["tree_size"]),
                root_hash=bytes.fromhex(data["root_hash"]),
                timestamp=str(data["timestamp"]),
                key_id=str(data["key_id"]),
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(f"checkpoint is malformed: {exc!r}") from exc

    def verify(self, public_key: bytes) -> None:
        """Raise ProofError unless ``public_key`` (32 raw bytes) signed this checkpoint."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if key_id_for(public_key) != self.key_id:
            raise ProofError(
                f"checkpoint was signed by key {self.key_id}, not by the given key "
                f"{key_id_for(public_key)}."
            )
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                self.signature, self.signed_text()
            )
        except InvalidSignature as exc:
            raise ProofError(
                f"checkpoint of {self.tree_size} leaves has a bad signature."
            ) from exc


def checkpoint_text(origin: str, tree_size: int, root: bytes, timestamp: str) -> bytes:
    if "\n" in origin or "\n" in timestamp:
        raise ProofError("origin and timestamp must be single lines.")
    root_b64 = base64.b64encode(root).decode("ascii")
    return f"{origin}\n{tree_size}\n{root_b64}\ntime {timestamp}\n".encode()


def key_id_for(public_key: bytes) -> str:
    """A short name for a public key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(b"proctor-integrity-key\n" + public_key).hexdigest()[:16]
