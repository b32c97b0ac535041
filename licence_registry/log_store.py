"""The transparency log's storage: appending leaves and answering from complete subtrees.

Every complete subtree's hash is stored once, when its last leaf arrives (at most log2(n)
rows per append). Any hash a proof needs is the hash of a range [a, b) whose start is
aligned to a power of two at least b - a: a complete subtree, or the right edge of a tree,
which splits into at most log2(n) complete subtrees. So every root and proof, for any tree
size up to the current one, costs one indexed query for O(log n) rows and no leaf scans.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, bindparam, func, insert, or_, select, text
from sqlalchemy.orm import Session

from ca.counters import bump_counter
from licence_registry.log_leaves import canonical_json, check_region, licence_identifier_of
from licence_registry.log_models import LogLeaf, LogNode
from verifier.errors import InputError, NotFoundError
from verifier.merkle import EMPTY_ROOT, MAX_TREE_SIZE, leaf_hash, node_hash
from verifier.timeutil import utc_now

MAX_PAGE = 1000

NodeKey = tuple[int, int]
_INSERT_LEAF = insert(LogLeaf.__table__)
_INSERT_NODE = insert(LogNode.__table__)


class LogError(InputError):
    """A log request that cannot be answered as asked (sizes, indexes, ranges)."""


class LogNotFound(LogError, NotFoundError):
    """The entry or checkpoint asked for does not exist."""


class LogCorrupted(RuntimeError):
    """Stored log state contradicts itself: a server fault, never the caller's."""


@dataclass(frozen=True)
class LogEntry:
    region: str
    index: int
    leaf_hash: bytes


def counter_name(region: str) -> str:
    return f"log:{region}"


def append_leaf(
    session: Session, region: str, leaf: Mapping[str, object], *, now: datetime | None = None
) -> LogEntry:
    """Append `leaf` to `region`'s log inside the caller's transaction.

    The index comes from the region's counter, whose row stays locked until the caller
    commits: appends to one region are serialised, so indexes are gapless and commit in order.
    """
    check_region(region)
    data = canonical_json(leaf)
    identifier = licence_identifier_of(leaf)
    index = bump_counter(session, counter_name(region)) - 1
    hashed = leaf_hash(data)
    connection = session.connection()
    connection.execute(
        _INSERT_LEAF,
        {
            "region_code": region,
            "index": index,
            "leaf": data,
            "leaf_hash": hashed,
            "appended_at": now or utc_now(),
            "licence_identifier": identifier,
        },
    )
    nodes = [
        {"region_code": region, "level": level, "index": i, "hash": h}
        for (level, i), h in _completed_nodes(session, region, index, hashed)
    ]
    connection.execute(_INSERT_NODE, nodes)
    return LogEntry(region, index, hashed)


def completed_by(index: int) -> list[tuple[NodeKey, NodeKey]]:
    """The subtrees leaf `index` completes above level 0, bottom-up, each with the key of
    its left child (the right child is the previous one, or the leaf itself)."""
    size = index + 1
    completed = []
    level = 1
    while size % (1 << level) == 0:
        completed.append(((level, (size >> level) - 1), (level - 1, (size >> (level - 1)) - 2)))
        level += 1
    return completed


def _completed_nodes(
    session: Session, region: str, index: int, hashed: bytes
) -> list[tuple[NodeKey, bytes]]:
    completed = completed_by(index)
    lefts = fetch_nodes(session, region, [left for _, left in completed])
    nodes = [((0, index), hashed)]
    current = hashed
    for key, left in completed:
        current = node_hash(lefts[left], current)
        nodes.append((key, current))
    return nodes


def fetch_nodes(session: Session, region: str, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored hashes of the given (level, index) subtrees, all of which must exist."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        levels, indexes = [level for level, _ in wanted], [index for _, index in wanted]
        parameters: dict[str, object] = {"region": region, "levels": levels, "indexes": indexes}
        rows = connection.execute(_POSTGRES_NODES, parameters).all()
    else:
        parameters = {"region": region}
        for n, (level, index) in enumerate(wanted):
            parameters[f"l{n}"] = level
            parameters[f"i{n}"] = index
        rows = connection.execute(_nodes_query(len(wanted)), parameters).all()
    found = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
    missing = [key for key in wanted if key not in found]
    if missing:
        raise LogCorrupted(f"log of region {region}: subtree nodes {missing[:5]} are missing")
    return found


# PostgreSQL: the keys as two arrays joined to the primary key, one plan for any count
# (an OR of keys costs it 3x more, mostly in planning).
_POSTGRES_NODES = text(
    'SELECT n.level, n."index", n.hash FROM unnest(CAST(:levels AS smallint[]), '
    "CAST(:indexes AS bigint[])) AS k(level, idx) JOIN log_node AS n ON "
    'n.region_code = :region AND n.level = k.level AND n."index" = k.idx'
)


@functools.lru_cache(maxsize=256)
def _nodes_query(count: int) -> Select[tuple[int, int, bytes]]:
    # SQLite: one OR of exact primary keys, built once per key count. Each term names the
    # whole key, so SQLite answers with one index search per key (MULTI-INDEX OR); with the
    # region outside the OR, or as a row-value IN, it scans the whole region.
    node = LogNode.__table__.c
    region = bindparam("region")
    keys = (
        and_(
            node.region_code == region,
            node.level == bindparam(f"l{n}"),
            node.index == bindparam(f"i{n}"),
        )
        for n in range(count)
    )
    return select(node.level, node.index, node.hash).where(or_(*keys))


def subtrees(start: int, end: int) -> list[NodeKey]:
    """The complete subtrees, left to right and largest first, that make up [start, end)."""
    keys = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def range_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH of leaves [start, end), for a start aligned to a power of two >= end - start."""
    hashes = [nodes[key] for key in subtrees(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _hashes(session: Session, region: str, ranges: list[tuple[int, int]]) -> list[bytes]:
    nodes = fetch_nodes(session, region, (k for a, b in ranges for k in subtrees(a, b)))
    return [range_hash(a, b, nodes) for a, b in ranges]


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make PATH(index, D[size]), leaf end first (RFC 9162
    2.1.3.1 unrolled)."""
    ranges = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make PROOF(size1, D[size2]) (RFC 9162 2.1.4.1 unrolled),
    for 0 < size1 < size2."""
    ranges = []
    start, end, m, whole = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            whole = False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def tree_size(session: Session, region: str) -> int:
    """The number of entries in `region`'s log (as this transaction sees it)."""
    last = session.scalar(select(func.max(LogLeaf.index)).where(LogLeaf.region_code == region))
    return 0 if last is None else int(last) + 1


def _check_number(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LogError(f"{what} is not an integer")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise LogError(f"{what} {value} is out of range")
    return value


def _check_size(session: Session, region: str, size: int, what: str = "tree size") -> int:
    _check_number(size, what)
    current = tree_size(session, region)
    if size > current:
        raise LogError(
            f"{what} {size} is larger than the log of region {region} ({current} entries)"
        )
    return current


def root_at(session: Session, region: str, size: int) -> bytes:
    """The root hash of the first `size` entries of `region`'s log."""
    _check_size(session, region, size)
    if size == 0:
        return EMPTY_ROOT
    return _hashes(session, region, [(0, size)])[0]


def inclusion_proof(session: Session, region: str, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) for `region`'s log, from stored subtree hashes."""
    _check_number(index, "leaf index")
    _check_size(session, region, size)
    if index >= size:
        raise LogError(f"leaf index {index} is not in a tree of size {size}")
    return _hashes(session, region, inclusion_ranges(index, size))


def consistency_proof(session: Session, region: str, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]) for `region`'s log; empty when size1 is 0 or equals size2."""
    _check_number(size1, "first tree size")
    _check_size(session, region, size2, "second tree size")
    if size1 > size2:
        raise LogError(f"first tree size {size1} is larger than second tree size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    return _hashes(session, region, consistency_ranges(size1, size2))


def entries(session: Session, region: str, start: int, end: int) -> list[tuple[int, bytes]]:
    """Entries [start, end) as (index, leaf bytes), at most MAX_PAGE of them and never past
    the current tree size."""
    _check_number(start, "start index")
    _check_number(end, "end index")
    if start >= end:
        raise LogError(f"start index {start} is not before end index {end}")
    current = tree_size(session, region)
    if start >= current:
        raise LogNotFound(f"no entry {start} in the log of region {region} ({current} entries)")
    stop = min(end, current, start + MAX_PAGE)
    rows = session.execute(
        select(LogLeaf.index, LogLeaf.leaf)
        .where(LogLeaf.region_code == region, LogLeaf.index >= start, LogLeaf.index < stop)
        .order_by(LogLeaf.index)
    ).all()
    return [(int(i), bytes(leaf)) for i, leaf in rows]


def find_licence_leaves(session: Session, region: str, identifier: str) -> list[int]:
    """Indexes of the entries about licence `identifier`, in log order."""
    return [
        int(i)
        for i in session.scalars(
            select(LogLeaf.index)
            .where(LogLeaf.region_code == region, LogLeaf.licence_identifier == identifier)
            .order_by(LogLeaf.index)
        )
    ]
