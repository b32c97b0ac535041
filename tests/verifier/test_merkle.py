"""RFC 9162 Merkle trees: the published RFC 6962 vectors, then every proof of every tree up to
64 leaves verifies and every tampered one fails."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

import pytest

from verifier.errors import InputError
from verifier.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 reference tree, as published in google/certificate-transparency
# cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots, kSHA256Paths, kSHA256Proofs) and
# transparency-dev/merkle testonly/constants.go and proof/verify_test.go.
INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # size 0
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",  # size 8
    )
]
# (0-based leaf index, tree size, path); the sources number leaves from 1.
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    # transparency-dev/merkle proof/verify_test.go only.
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
MAX_LEAVES = 64

LEAVES = [leaf_hash(d) for d in INPUTS]
# Distinct leaves for the exhaustive checks: two bytes each, so no two leaves collide.
MANY = [leaf_hash(i.to_bytes(2, "big")) for i in range(MAX_LEAVES)]
MANY_ROOTS = [root_hash(MANY[:n]) for n in range(MAX_LEAVES + 1)]


def hashes(hex_values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hex_values]


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def fails(check: Callable[..., None], *args: object) -> bool:
    try:
        check(*args)
    except ProofError:
        return True
    return False


def test_hashes_are_the_rfc_6962_ones() -> None:
    # transparency-dev/merkle rfc6962/rfc6962_test.go
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOTS[0]
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_reference_tree(size: int) -> None:
    assert root_hash(LEAVES[:size]) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    assert inclusion_proof(LEAVES[:size], index) == hashes(path)
    verify_inclusion(LEAVES[index], index, size, hashes(path), ROOTS[size])
    assert_inclusion_tampering_fails(LEAVES[index], index, size, hashes(path), ROOTS[size], True)


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(size1: int, size2: int, proof: list[str]) -> None:
    assert consistency_proof(LEAVES, size1, size2) == hashes(proof)
    verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], hashes(proof))
    if proof:
        assert_consistency_tampering_fails(
            size1, size2, ROOTS[size1], ROOTS[size2], hashes(proof), True
        )


def test_every_inclusion_proof_up_to_64_leaves() -> None:
    checked = 0
    for size in range(1, MAX_LEAVES + 1):
        for index in range(size):
            proof = inclusion_proof(MANY[:size], index)
            verify_inclusion(MANY[index], index, size, proof, MANY_ROOTS[size])
            assert_inclusion_tampering_fails(
                MANY[index], index, size, proof, MANY_ROOTS[size], size <= 8
            )
            checked += 1
    assert checked == MAX_LEAVES * (MAX_LEAVES + 1) // 2


def test_every_consistency_proof_up_to_64_leaves() -> None:
    checked = 0
    for size2 in range(MAX_LEAVES + 1):
        for size1 in range(size2 + 1):
            proof = consistency_proof(MANY, size1, size2)
            root1, root2 = MANY_ROOTS[size1], MANY_ROOTS[size2]
            verify_consistency(size1, size2, root1, root2, proof)
            if 0 < size1 < size2:
                assert proof
                assert_consistency_tampering_fails(size1, size2, root1, root2, proof, size2 <= 8)
            else:
                assert proof == []
            checked += 1
    assert checked == (MAX_LEAVES + 1) * (MAX_LEAVES + 2) // 2


def inclusion_tampering(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, every_bit: bool
) -> Iterator[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    yield "index - 1", (leaf, index - 1, size, proof, root)
    yield "index + 1", (leaf, index + 1, size, proof, root)
    yield "index ^ 2", (leaf, index ^ 2, size, proof, root)
    yield "size * 2", (leaf, index, size * 2, proof, root)
    yield "size // 2", (leaf, index, size // 2, proof, root)
    yield "wrong leaf", (SOME_HASH, index, size, proof, root)
    yield "flipped leaf", (flip(leaf, 0), index, size, proof, root)
    yield "empty root", (leaf, index, size, proof, EMPTY_ROOT)
    yield "flipped root", (leaf, index, size, proof, flip(root, 255))
    yield "trailing root", (leaf, index, size, [*proof, root], root)
    yield "trailing garbage", (leaf, index, size, [*proof, b""], root)
    yield "preceding root", (leaf, index, size, [root, *proof], root)
    if proof:
        yield "truncated", (leaf, index, size, proof[:-1], root)
        yield "first dropped", (leaf, index, size, proof[1:], root)
        yield "short hash", (leaf, index, size, [proof[0][:31], *proof[1:]], root)
    if len(proof) > 1:
        yield "inserted", (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root)
        yield "reversed", (leaf, index, size, proof[::-1], root)
    for position, element in enumerate(proof):
        for bit in range(256) if every_bit else ((position * 37 + index) % 256,):
            changed = [*proof[:position], flip(element, bit), *proof[position + 1 :]]
            yield f"proof[{position}] bit {bit}", (leaf, index, size, changed, root)


def assert_inclusion_tampering_fails(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, every_bit: bool
) -> None:
    wrongly_accepted = [
        name
        for name, args in inclusion_tampering(leaf, index, size, proof, root, every_bit)
        if not fails(verify_inclusion, *args)
    ]
    assert wrongly_accepted == [], (index, size)


def consistency_tampering(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], every_bit: bool
) -> Iterator[tuple[str, tuple[int, int, bytes, bytes, list[bytes]]]]:
    yield "size1 - 1", (size1 - 1, size2, root1, root2, proof)
    yield "size1 + 1", (size1 + 1, size2, root1, root2, proof)
    yield "size1 ^ 2", (size1 ^ 2, size2, root1, root2, proof)
    yield "size2 * 2", (size1, size2 * 2, root1, root2, proof)
    yield "size2 // 2", (size1, size2 // 2, root1, root2, proof)
    yield "swapped sizes", (size2, size1, root1, root2, proof)
    yield "swapped roots", (size1, size2, root2, root1, proof)
    yield "wrong root1", (size1, size2, SOME_HASH, root2, proof)
    yield "wrong root2", (size1, size2, root1, SOME_HASH, proof)
    yield "flipped root1", (size1, size2, flip(root1, 7), root2, proof)
    yield "flipped root2", (size1, size2, root1, flip(root2, 128), proof)
    yield "empty proof", (size1, size2, root1, root2, [])
    yield "truncated", (size1, size2, root1, root2, proof[:-1])
    yield "first dropped", (size1, size2, root1, root2, proof[1:])
    yield "trailing root1", (size1, size2, root1, root2, [*proof, root1])
    yield "trailing root2", (size1, size2, root1, root2, [*proof, root2])
    yield "trailing garbage", (size1, size2, root1, root2, [*proof, b""])
    yield "preceding root1", (size1, size2, root1, root2, [root1, *proof])
    yield "preceding proof[0]", (size1, size2, root1, root2, [proof[0], *proof])
    if len(proof) > 1:
        yield "reversed", (size1, size2, root1, root2, proof[::-1])
    for position, element in enumerate(proof):
        for bit in range(256) if every_bit else ((position * 53 + size1) % 256,):
            changed = [*proof[:position], flip(element, bit), *proof[position + 1 :]]
            yield f"proof[{position}] bit {bit}", (size1, size2, root1, root2, changed)


def assert_consistency_tampering_fails(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], every_bit: bool
) -> None:
    wrongly_accepted = [
        name
        for name, args in consistency_tampering(size1, size2, root1, root2, proof, every_bit)
        if not fails(verify_consistency, *args)
    ]
    assert wrongly_accepted == [], (size1, size2)


def test_proof_error_is_input_error() -> None:
    assert issubclass(ProofError, InputError)


@pytest.mark.parametrize(
    ("index", "size", "fragment"),
    [
        (0, 0, "not in a tree of size 0"),
        (1, 1, "not in a tree of size 1"),
        (2, 1, "not in a tree"),
        (-1, 4, "out of range"),
        (0, 2**64, "out of range"),
        (True, 2, "not an integer"),
        (0.0, 2, "not an integer"),
    ],
)
def test_inclusion_refuses_impossible_positions(index: object, size: object, fragment: str) -> None:
    with pytest.raises(ProofError, match=fragment):
        verify_inclusion(SOME_HASH, index, size, [], SOME_HASH)  # type: ignore[arg-type]


def test_inclusion_in_a_one_leaf_tree() -> None:
    data_hash = leaf_hash(b"data")
    verify_inclusion(data_hash, 0, 1, [], data_hash)
    for leaf, root in ((data_hash, b""), (b"", data_hash), (b"", b"")):
        with pytest.raises(ProofError, match="32-byte"):
            verify_inclusion(leaf, 0, 1, [], root)
    with pytest.raises(ProofError, match="does not lead to the root"):
        verify_inclusion(data_hash, 0, 1, [], SOME_HASH)


def test_wrong_proof_length_is_named() -> None:
    proof = inclusion_proof(LEAVES, 5)
    with pytest.raises(ProofError, match="holds 2 hashes, expected 3"):
        verify_inclusion(LEAVES[5], 5, 8, proof[:2], ROOTS[8])
    with pytest.raises(ProofError, match="holds 4 hashes, expected 3"):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], [*consistency_proof(LEAVES, 6, 8), ROOTS[8]])
    with pytest.raises(ProofError, match="not a list of hashes"):
        verify_inclusion(LEAVES[0], 0, 2, LEAVES[1], ROOTS[2])


def test_consistency_edge_cases() -> None:
    some_root = MANY_ROOTS[5]
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, some_root, [])
    verify_consistency(5, 5, some_root, some_root, [])
    with pytest.raises(ProofError, match="empty tree's root"):
        verify_consistency(0, 5, some_root, some_root, [])
    with pytest.raises(ProofError, match="two different root hashes"):
        verify_consistency(5, 5, some_root, MANY_ROOTS[4], [])
    with pytest.raises(ProofError, match="expected 0"):
        verify_consistency(5, 5, some_root, some_root, [EMPTY_ROOT])
    with pytest.raises(ProofError, match="expected 0"):
        verify_consistency(0, 1, EMPTY_ROOT, MANY_ROOTS[1], [EMPTY_ROOT])
    with pytest.raises(ProofError, match="a log only grows"):
        verify_consistency(2, 1, MANY_ROOTS[2], MANY_ROOTS[1], [])
    with pytest.raises(ProofError, match="expected 1"):
        verify_consistency(1, 2, MANY_ROOTS[1], MANY_ROOTS[2], [])
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(1, 1, b"don't care", b"don't care", [])


def test_reference_generators_refuse_bad_arguments() -> None:
    with pytest.raises(ProofError, match="not in a tree of size 3"):
        inclusion_proof(LEAVES[:3], 3)
    with pytest.raises(ProofError, match="not in a tree of size 0"):
        inclusion_proof([], 0)
    with pytest.raises(ProofError, match="larger than second"):
        consistency_proof(LEAVES, 5, 4)
    with pytest.raises(ProofError, match="larger than the 8 leaves"):
        consistency_proof(LEAVES, 4, 9)
    assert consistency_proof(LEAVES, 0, 8) == []
    assert consistency_proof(LEAVES, 8, 8) == []
