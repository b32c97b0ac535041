"""Tables of the per-region transparency logs (RFC 9162 Merkle trees), owned by the registry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ca.orm import Base, UtcDateTime


class LogLeaf(Base):
    """One entry: its canonical JSON, exactly the bytes the leaf hash covers."""

    __tablename__ = "log_leaf"
    __table_args__ = (Index("ix_log_leaf_licence", "region_code", "licence_identifier"),)

    region_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    appended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Copied out of the JSON of licence events so a licence's history is an index lookup.
    licence_identifier: Mapped[str | None] = mapped_column(String(128))


class LogNode(Base):
    """The hash of a complete subtree: level L, index i covers leaves [i*2^L, (i+1)*2^L).

    Level 0 holds the leaf hashes, so a proof reads nodes only, never leaves."""

    __tablename__ = "log_node"

    region_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpointRow(Base):
    """A signed checkpoint (C2SP signed note) of the tree of `tree_size` leaves."""

    __tablename__ = "log_checkpoint"

    region_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The primary key is the unique (region, size): two processes can never store two
    # different signed notes for one tree size.
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime())
