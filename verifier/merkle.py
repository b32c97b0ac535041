"""RFC 9162 section 2.1 Merkle trees (SHA-256): the transparency log's hashes and proofs.

`verify_inclusion` and `verify_consistency` are what verifiers and auditors run.
`root_hash`, `inclusion_proof` and `consistency_proof` are naive reference implementations
of MTH, PATH and PROOF (RFC 9162 sections 2.1.1, 2.1.3.1, 2.1.4.1), written to be obviously
right rather than fast: the log builds its own fast ones and its tests compare against these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from verifier.errors import InputError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# Tree sizes and indexes are uint64 in RFC 9162's TLS structures.
MAX_TREE_SIZE = 2**64 - 1
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(InputError):
    """A Merkle proof that does not verify, or arguments no proof can have."""


def leaf_hash(data: bytes) -> bytes:
    """MTH of a single entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + bytes(left) + bytes(right)).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaves' hashes; the empty tree's root is SHA-256 of nothing."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return bytes(leaf_hashes[0])
    k = _split(n)
    return node_hash(root_hash(leaf_hashes[:k]), root_hash(leaf_hashes[k:]))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) for the tree of all of `leaf_hashes`."""
    size = len(leaf_hashes)
    _check_int(size, "tree size")
    _check_int(index, "leaf index")
    if index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    return _path(index, leaf_hashes)


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]) over the first `size2` of `leaf_hashes`; empty when size1 is 0
    or equal to size2 (those trees are consistent with no proof at all)."""
    _check_int(size1, "first tree size")
    _check_int(size2, "second tree size")
    if size1 > size2:
        raise ProofError(f"first tree size {size1} is larger than second tree size {size2}")
    if size2 > len(leaf_hashes):
        raise ProofError(f"tree size {size2} is larger than the {len(leaf_hashes)} leaves given")
    if size1 == 0:
        return []
    return _subproof(size1, leaf_hashes[:size2], True)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 section 2.1.3.2: raise ProofError unless `proof` shows that `leaf_hash` is
    leaf number `index` of the tree of `tree_size` leaves whose root is `root`."""
    _check_int(tree_size, "tree size")
    _check_int(index, "leaf index")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is not in a tree of size {tree_size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    path = _check_proof(proof, _inclusion_length(index, tree_size), "inclusion")
    fn, sn = index, tree_size - 1
    r = bytes(leaf_hash)
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(
            f"inclusion proof of leaf {index} does not lead to the root of tree size {tree_size}"
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 section 2.1.4.2: raise ProofError unless `proof` shows that the tree of
    `size1` leaves with root `root1` is a prefix of the tree of `size2` leaves with `root2`."""
    _check_int(size1, "first tree size")
    _check_int(size2, "second tree size")
    _check_hash(root1, "first root hash")
    _check_hash(root2, "second root hash")
    if size1 > size2:
        raise ProofError(
            f"first tree size {size1} is larger than second tree size {size2} (a log only grows)"
        )
    if size1 == 0 or size1 == size2:
        _check_proof(proof, 0, "consistency")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise ProofError("a tree of size 0 must have the empty tree's root hash")
        if size1 == size2 and root1 != root2:
            raise ProofError(f"two different root hashes for the same tree size {size1}")
        return
    path = _check_proof(proof, _consistency_length(size1, size2), "consistency")
    if size1 & (size1 - 1) == 0:
        # The old root is itself a complete subtree of the new tree, so the proof omits it.
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != root1:
        raise ProofError(f"consistency proof does not rebuild the root of tree size {size1}")
    if sr != root2:
        raise ProofError(f"consistency proof does not rebuild the root of tree size {size2}")


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, leaves[:k]), root_hash(leaves[k:])]
    return [*_path(m - k, leaves[k:]), root_hash(leaves[:k])]


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root_hash(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root_hash(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_hash(leaves[:k])]


def _inclusion_length(index: int, size: int) -> int:
    # Levels where the leaf's path and the tree's right edge differ, plus the left siblings
    # above them: the number of hashes PATH(index, D[size]) holds.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_length(size1: int, size2: int) -> int:
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 == 1 << shift else 1
    return seed + inner - shift + border


def _check_int(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{what} is not an integer")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ProofError(f"{what} {value} is out of range")


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")


def _check_proof(proof: Sequence[bytes], expected: int, kind: str) -> list[bytes]:
    if isinstance(proof, bytes | bytearray | str):
        raise ProofError(f"{kind} proof is not a list of hashes")
    hashes = list(proof)
    if len(hashes) != expected:
        raise ProofError(f"{kind} proof holds {len(hashes)} hashes, expected {expected}")
    for position, value in enumerate(hashes):
        _check_hash(value, f"{kind} proof hash [{position}]")
    return [bytes(h) for h in hashes]
