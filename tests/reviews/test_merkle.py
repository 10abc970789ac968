"""The Merkle tree against RFC 6962's recursive definition, and its proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrity import merkle


def _mth(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 6962 §2.1 writes it, for comparison."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_leaf_and_node_hashes_use_the_rfc_6962_prefixes():
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(
        b"\x01" + b"a" * 32 + b"b" * 32
    ).digest()


def test_empty_tree_root_is_the_hash_of_nothing():
    assert merkle.root_hash([]) == hashlib.sha256(b"").digest()


@settings(deadline=None)  # a shared CI machine can stall any one example
@given(st.integers(min_value=1, max_value=70), st.data())
def test_roots_and_inclusion_proofs_match_the_rfc_definition(n, data):
    leaves = _leaves(n)
    tree = merkle.MerkleTree(leaves)
    size = data.draw(st.integers(min_value=1, max_value=n))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    root = _mth(leaves[:size])
    assert tree.root(size) == root == merkle.root_hash(leaves[:size])
    merkle.verify_inclusion(index, size, leaves[index], tree.inclusion_proof(index, size), root)


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_proofs_verify_between_any_two_sizes(n, data):
    leaves = _leaves(n)
    tree = merkle.MerkleTree(leaves)
    old = data.draw(st.integers(min_value=0, max_value=n))
    proof = tree.consistency_proof(old, n)
    merkle.verify_consistency(old, n, _mth(leaves[:old]), _mth(leaves), proof)


def test_consistency_proof_fails_when_an_old_leaf_was_changed():
    leaves = _leaves(13)
    old_root = merkle.root_hash(leaves[:6])
    forged = list(leaves)
    forged[2] = merkle.leaf_hash(b"rewritten history")
    tree = merkle.MerkleTree(forged)
    with pytest.raises(merkle.ProofError, match="does not extend the tree of 6 leaves"):
        merkle.verify_consistency(6, 13, old_root, tree.root(), tree.consistency_proof(6, 13))


def test_inclusion_proof_fails_for_a_changed_leaf():
    leaves = _leaves(9)
    tree = merkle.MerkleTree(leaves)
    with pytest.raises(merkle.ProofError, match="leaf 4 is not included"):
        merkle.verify_inclusion(
            4, 9, merkle.leaf_hash(b"other"), tree.inclusion_proof(4), tree.root()
        )


def test_canonical_encoding_refuses_floats_and_non_canonical_text():
    with pytest.raises(merkle.ProofError, match="is a float"):
        merkle.canonical_encode({"score": 0.5})
    with pytest.raises(merkle.ProofError, match="not in canonical form"):
        merkle.canonical_decode('{"b": 1, "a": 2}')
    assert merkle.canonical_decode('{"a":2,"b":1}') == {"a": 2, "b": 1}
