"""Read the messages of a damaged rosbag2 that ``rosbags`` refuses to open (or stops reading).

What a killed ``ros2 bag record`` leaves behind: no ``metadata.yaml`` (written on close) and,
for MCAP, no summary or footer (the file just stops, possibly inside a record). What an
interrupted copy or a full disk leaves: a storage file cut short. Both formats are still
readable:

- MCAP: records are parsed sequentially (schemas, channels, messages, chunks compressed with
  lz4 or zstd) until the first incomplete record;
- sqlite3: an intact database is read with the standard library; a damaged one (cut short,
  or a page sqlite refuses) page by page: every table leaf page of ``messages`` that survives
  is decoded, wherever the damage is (see ``_scan_pages``). The file is opened read-only and
  immutable and scanned through a read-only map: it is never written.

:func:`salvage_messages` yields ``(topic, msgtype, log_time_ns, raw_cdr)`` per storage file
(MCAP in file order, sqlite3 in rosbag2's timestamp order) and records in
:class:`SalvageReport` where and why reading stopped and what damage was read around;
:func:`recorded_message_count` is what the bag held according to its ``metadata.yaml``.
"""

from __future__ import annotations

import mmap
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MCAP_MAGIC = b"\x89MCAP0\r\n"
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_RECORD = struct.Struct("<BQ")
_MESSAGE = struct.Struct("<HIQQ")
_CHUNK = struct.Struct("<QQQI")


@dataclass
class SalvageReport:
    """What salvaging read.

    Attributes:
        files: storage files opened.
        messages: messages yielded (all topics).
        stopped: where and why reading stopped before the end ("" = every file was read).
        damaged: the damage read around, one line per storage file (sqlite3).
    """

    files: int = 0
    messages: int = 0
    stopped: str = ""
    damaged: list[str] = field(default_factory=list)


def _split_index(path: Path) -> tuple[str, int, str]:
    """Sort key: ``bag_10.mcap`` after ``bag_9.mcap`` (``ros2 bag record`` split names)."""
    stem, _, index = path.stem.rpartition("_")
    if stem and index.isdigit():
        return stem, int(index), path.suffix
    return path.stem, -1, path.suffix


def storage_files(bag: Path) -> list[Path]:
    """The ``.mcap`` / ``.db3`` files of a bag folder (or the file itself), in recording order
    (name order, the numeric split index compared as a number)."""
    if bag.is_file():
        return [bag]
    return sorted((p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")), key=_split_index)


def recorded_message_count(bag: Path) -> int | None:
    """``message_count`` of the bag's ``metadata.yaml`` (all topics, all files); None when
    there is none (a killed recorder, a bare storage file) or it cannot be read."""
    meta = bag / "metadata.yaml"
    if not meta.is_file():
        return None
    import yaml  # only here: the rest of the module needs no YAML

    try:
        info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
        count = info["message_count"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return None
    return count if isinstance(count, int) and count >= 0 else None


def salvage_messages(bag: Path, report: SalvageReport) -> Iterator[tuple[str, str, int, bytes]]:
    """Messages of every storage file of ``bag`` (see the module docstring). Reading stops at
    a file that cannot be read to its end (``report.stopped``): what follows a cut is later.
    A damaged sqlite3 file whose surviving pages were all read does not stop it."""
    for path in storage_files(bag):
        report.files += 1
        reader = _mcap_messages if path.suffix == ".mcap" else _sqlite_messages
        for item in reader(path, report):
            report.messages += 1
            yield item
        if report.stopped:
            return


def _string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = _U32.unpack_from(buf, pos)
    return bytes(buf[pos + 4 : pos + 4 + n]).decode(), pos + 4 + n


def _mcap_messages(path: Path, report: SalvageReport) -> Iterator[tuple[str, str, int, bytes]]:
    data = memoryview(path.read_bytes())
    if bytes(data[:8]) != MCAP_MAGIC:
        report.stopped = f"{path.name}: not an MCAP file (bad magic)"
        return
    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, str]] = {}
    yield from _mcap_records(data, 8, len(data), schemas, channels, path, report)


def _mcap_records(
    buf: memoryview,
    pos: int,
    end: int,
    schemas: dict[int, str],
    channels: dict[int, tuple[str, str]],
    path: Path,
    report: SalvageReport,
) -> Iterator[tuple[str, str, int, bytes]]:
    while pos < end:
        if pos + _RECORD.size > end:
            report.stopped = f"{path.name}: truncated record header at byte {pos}"
            return
        op, length = _RECORD.unpack_from(buf, pos)
        body = pos + _RECORD.size
        if body + length > end:
            report.stopped = f"{path.name}: truncated record (opcode {op:#x}) at byte {pos}"
            if op == 0x06:  # a cut uncompressed chunk still holds whole messages: take them
                yield from _partial_chunk(buf, body, end, schemas, channels, path, report)
            return
        if op == 0x03:  # Schema: id, name, encoding, data
            (sid,) = _U16.unpack_from(buf, body)
            schemas[sid], _ = _string(buf, body + 2)
        elif op == 0x04:  # Channel: id, schema id, topic, encoding, metadata
            cid, sid = struct.unpack_from("<HH", buf, body)
            topic, _ = _string(buf, body + 4)
            channels[cid] = (topic, schemas.get(sid, ""))
        elif op == 0x05:  # Message: channel, sequence, log time, publish time, data
            cid, _, log_time, _ = _MESSAGE.unpack_from(buf, body)
            topic, msgtype = channels.get(cid, ("", ""))
            yield topic, msgtype, log_time, bytes(buf[body + _MESSAGE.size : body + length])
        elif op == 0x06:  # Chunk: times, size, crc, compression, records
            inner = _chunk_records(buf, body, path, report)
            if inner is None:
                return
            yield from _mcap_records(
                memoryview(inner), 0, len(inner), schemas, channels, path, report
            )
            if report.stopped:
                return
        elif op == 0x02:  # Footer: the end
            return
        pos = body + length


def _partial_chunk(
    buf: memoryview,
    body: int,
    end: int,
    schemas: dict[int, str],
    channels: dict[int, tuple[str, str]],
    path: Path,
    report: SalvageReport,
) -> Iterator[tuple[str, str, int, bytes]]:
    stopped = report.stopped
    try:
        compression, pos = _string(buf, body + _CHUNK.size)
    except (struct.error, UnicodeDecodeError):
        return
    if compression != "" or pos + 8 > end:
        return
    yield from _mcap_records(buf, pos + 8, end, schemas, channels, path, report)
    report.stopped = stopped  # the first reason (the cut chunk) is the one to report


def _chunk_records(buf: memoryview, body: int, path: Path, report: SalvageReport) -> bytes | None:
    _, _, size, _ = _CHUNK.unpack_from(buf, body)
    compression, pos = _string(buf, body + _CHUNK.size)
    (n,) = _U64.unpack_from(buf, pos)
    raw = bytes(buf[pos + 8 : pos + 8 + n])
    try:
        if compression == "":
            return raw
        if compression == "lz4":
            from lz4.frame import decompress

            return decompress(raw)
        if compression == "zstd":
            try:
                # Python >= 3.14: mypy's python_version (3.10) has no such stdlib module
                from compression import zstd  # type: ignore[import-not-found]
            except ImportError:
                from backports import zstd
            return zstd.decompress(raw)
    except Exception as err:  # corrupt compressed data
        report.stopped = f"{path.name}: undecompressable {compression} chunk: {err}"
        return None
    report.stopped = f"{path.name}: unsupported chunk compression {compression!r} ({size} B)"
    return None


# --- sqlite3 -----------------------------------------------------------------------------
#
# A cut ``.db3`` cannot be read through sqlite: with the file shorter than its header says,
# sqlite refuses it ("database disk image is malformed"), and even told to trust the file size
# (``PRAGMA writable_schema``) a walk of the ``messages`` B-tree stops at the first lost page.
# In a big bag the B-tree's interior pages are allocated late (when the tree grows a level),
# so a walk reaches nothing at all once they are cut off, although every leaf page written
# before the cut is still there. Those leaves are therefore read directly: each page of the
# file that is a table leaf holding records of the ``messages`` shape (id, topic_id, timestamp,
# data) is decoded cell by cell (https://www.sqlite.org/fileformat2.html). Measured on a
# 9000-message bag cut at 90/60/30 %: the B-tree walk recovers 8087/0/0 messages, the page
# scan every message whose page survived.

_SQLITE_MAGIC = b"SQLite format 3\x00"
_U16BE = struct.Struct(">H")
_U32BE = struct.Struct(">I")
_TABLE_LEAF = 0x0D
_MESSAGES_COLUMNS = ["id", "topic_id", "timestamp", "data"]
SqliteRow = tuple[int, int, int, bytes]  # rowid, topic id, timestamp [ns], data


@dataclass(frozen=True)
class _Layout:
    """Page geometry of an sqlite3 file (sizes in bytes, pages numbered from 1)."""

    page_size: int
    usable: int  # page size minus the reserved bytes at each page's end
    size: int  # of the file
    header_pages: int  # pages the header says the database has (0: not recorded)

    @property
    def pages(self) -> int:
        """Pages present in the file, the last one possibly in part."""
        return -(-self.size // self.page_size)

    @property
    def cut(self) -> bool:
        """The file is shorter than the database (its tail is lost)."""
        whole = self.size // self.page_size
        return self.size % self.page_size != 0 or self.header_pages > whole


def _sqlite_layout(path: Path) -> _Layout | str:
    """The file's page geometry, or why it is not an sqlite3 database."""
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes)"
    with path.open("rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return "not an sqlite3 database (bad header)"
    (page_size,) = _U16BE.unpack_from(head, 16)
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"not an sqlite3 database (page size {page_size})"
    # The header's page count is valid only when its change counter matches (file format doc).
    valid = head[24:28] == head[92:96]
    header_pages = _U32BE.unpack_from(head, 28)[0] if valid else 0
    return _Layout(page_size, page_size - head[20], size, header_pages)


def _sqlite_messages(path: Path, report: SalvageReport) -> Iterator[tuple[str, str, int, bytes]]:
    """Messages of one ``.db3``, in rosbag2's order (timestamp, then insertion)."""
    layout = _sqlite_layout(path)
    if isinstance(layout, str):
        report.stopped = f"{path.name}: {layout}"
        return
    # immutable + read-only: sqlite neither locks, journals nor writes; the file stays as it is.
    con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        topics = _sqlite_topics(con, path, report)
        if topics is None:
            return
        rows = None if layout.cut else _btree_rows(con)
    finally:
        con.close()
    if rows is None:  # damaged: read the leaf pages that survive
        rows, lost = _scan_pages(path, layout)
        report.damaged.append(
            f"{path.name}: damaged{' (cut short)' if layout.cut else ''}; read its "
            f"{layout.pages} pages directly: {len(rows)} intact messages"
            + (f" ({lost} more cut off or unreadable)" if lost else "")
        )
    rows.sort(key=lambda r: (r[2], r[0]))  # what rosbags reads: ORDER BY timestamp
    for _, topic_id, stamp, data in rows:
        topic, msgtype = topics.get(topic_id, ("", ""))
        yield topic, msgtype, stamp, data


def _sqlite_topics(
    con: sqlite3.Connection, path: Path, report: SalvageReport
) -> dict[int, tuple[str, str]] | None:
    """Topic id -> (name, type); None (and ``report.stopped``) when they cannot be read: then
    no message can be attributed to a topic."""
    try:
        # Trust the file's size over its header, so that a cut file opens at all.
        con.execute("PRAGMA writable_schema = ON")
        columns = [r[1] for r in con.execute("PRAGMA table_info(messages)")]
        if not columns:
            report.stopped = (
                f"{path.name}: no messages table (its schema, page 1, is damaged, or it is "
                "not a rosbag2 database)"
            )
            return None
        if columns != _MESSAGES_COLUMNS:
            report.stopped = (
                f"{path.name}: not a rosbag2 database (messages table columns {columns})"
            )
            return None
        return {i: (n, t) for i, n, t in con.execute("SELECT id, name, type FROM topics")}
    except sqlite3.Error as err:  # the schema or the topics table is damaged
        report.stopped = (
            f"{path.name}: its topics table is unreadable ({err}): no message can be "
            "attributed to a topic"
        )
        return None


def _btree_rows(con: sqlite3.Connection) -> list[SqliteRow] | None:
    """Every row of ``messages`` through sqlite; None if the table is damaged."""
    try:
        rows = con.execute("SELECT id, topic_id, timestamp, data FROM messages").fetchall()
    except sqlite3.Error:
        return None
    # sqlite does not check everything: a value of the wrong type is damage too.
    for row in rows:
        if not (type(row[1]) is int and type(row[2]) is int and type(row[3]) is bytes):
            return None
    return rows


def _scan_pages(path: Path, layout: _Layout) -> tuple[list[SqliteRow], int]:
    """The ``messages`` rows of every surviving table leaf page, and the number of cells that
    could not be read (their overflow pages are lost, or they are malformed). A rowid found
    twice with different contents (a stale page) is dropped: never guess which one is true."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buf = memoryview(mm)
        try:
            free = _freelist(buf, layout)
            found: dict[int, SqliteRow] = {}
            conflicts: set[int] = set()
            lost = 0
            for page in range(2, layout.pages + 1):  # page 1 is the schema
                if page in free:
                    continue
                for row in _leaf_rows(buf, page, layout):
                    if row is None:
                        lost += 1
                    elif found.setdefault(row[0], row) != row:
                        conflicts.add(row[0])
        finally:
            buf.release()
    for rowid in conflicts:
        del found[rowid]
    return list(found.values()), lost + len(conflicts)


def _freelist(buf: memoryview, layout: _Layout) -> set[int]:
    """Pages on the freelist (they may hold stale copies of rows), as far as it is readable."""
    (trunk,) = _U32BE.unpack_from(buf, 32)
    free: set[int] = set()
    try:
        while 1 < trunk <= layout.pages and trunk not in free:
            free.add(trunk)
            base = (trunk - 1) * layout.page_size
            nxt, count = struct.unpack_from(">II", buf, base)
            count = min(count, (layout.usable - 8) // 4)
            free.update(struct.unpack_from(f">{count}I", buf, base + 8))
            trunk = nxt
    except struct.error:  # the list runs into the cut: what is left of it is lost anyway
        pass
    return free


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """An sqlite varint at ``pos``: (value, position after it); IndexError past the end."""
    value = 0
    for i in range(8):
        byte = buf[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    return (value << 8) | buf[pos + 8], pos + 9


def _bytes(buf: memoryview, start: int, n: int) -> bytes:
    """``n`` bytes at ``start``; IndexError when the file ends before (a slice would not)."""
    if start + n > len(buf):
        raise IndexError("past the end of the file")
    return bytes(buf[start : start + n])


def _leaf_rows(buf: memoryview, page: int, layout: _Layout) -> list[SqliteRow | None]:
    """The ``messages`` rows of one page if it is a table leaf of that table (None for each
    cell that cannot be read: it runs past the cut, its overflow pages are lost, it is not a
    record); nothing for any other page. The last page may be there in part only."""
    base = (page - 1) * layout.page_size
    try:
        if buf[base] != _TABLE_LEAF:
            return []
        (count,) = _U16BE.unpack_from(buf, base + 3)
    except (IndexError, struct.error):
        return []
    if 8 + 2 * count > layout.usable:
        return []
    rows: list[SqliteRow | None] = []
    for i in range(count):
        try:
            (offset,) = _U16BE.unpack_from(buf, base + 8 + 2 * i)
            if not 8 + 2 * count <= offset < layout.usable:
                raise IndexError("cell outside the page")
            payload_size, pos = _varint(buf, base + offset)
            rowid, pos = _varint(buf, pos)
            row = _message_record(rowid, _payload(buf, base, pos, payload_size, layout))
        except (IndexError, struct.error):
            row = _BAD
        if row is _OTHER:
            return []  # a well-formed record of another table: not a messages page
        rows.append(None if row is _BAD else row)
    return rows


def _payload(buf: memoryview, base: int, pos: int, size: int, layout: _Layout) -> bytes:
    """A cell's payload: its local part plus its overflow chain (IndexError if lost)."""
    usable = layout.usable
    most = usable - 35  # the largest payload stored in the cell itself
    least = (usable - 12) * 32 // 255 - 23
    local = size if size <= most else least + (size - least) % (usable - 4)
    local = local if local <= most else least
    if pos + local + (4 if local < size else 0) > base + usable:
        raise IndexError("cell runs past its page")
    parts = [_bytes(buf, pos, local)]
    left, seen = size - local, set()
    if left:
        (page,) = _U32BE.unpack_from(buf, pos + local)
    while left > 0:
        if not 1 < page <= layout.pages or page in seen:
            raise IndexError("overflow chain lost")  # it runs into the cut (or is garbage)
        seen.add(page)
        start = (page - 1) * layout.page_size
        (nxt,) = _U32BE.unpack_from(buf, start)
        take = min(left, usable - 4)
        parts.append(_bytes(buf, start + 4, take))
        left, page = left - take, nxt
    return b"".join(parts)


_BAD: Any = object()  # a cell that cannot be decoded
_OTHER: Any = object()  # a well-formed record of another table


def _serial_size(serial: int) -> int:
    """Bytes of a record value of this serial type (ValueError: not a serial type)."""
    if serial >= 12:
        return (serial - 12 - serial % 2) // 2
    if serial in (10, 11):
        raise ValueError("reserved serial type")
    return (0, 1, 2, 3, 4, 6, 8, 8, 0, 0)[serial]


def _message_record(rowid: int, payload: bytes) -> Any:
    """(rowid, topic_id, timestamp, data) of a ``messages`` record; ``_OTHER`` for a
    well-formed record of any other shape, ``_BAD`` for bytes that are not a record.

    A message record is four values: NULL (the id is the rowid), two integers, a blob."""
    view = memoryview(payload)
    header, pos = _varint(view, 0)
    types = []
    while pos < header:
        serial, pos = _varint(view, pos)
        types.append(serial)
    try:
        sizes = [_serial_size(t) for t in types]
    except ValueError:
        return _BAD
    if pos != header or header + sum(sizes) != len(payload):
        return _BAD  # the values must fill the payload exactly
    ints = (1, 2, 3, 4, 5, 6, 8, 9)
    if len(types) != 4 or types[0] != 0 or types[1] not in ints or types[2] not in ints:
        return _OTHER
    if types[3] < 12 or types[3] % 2:
        return _OTHER
    values = []
    for serial, size in zip(types[1:3], sizes[1:3], strict=True):
        raw = view[pos : pos + size]
        values.append(serial - 8 if serial >= 8 else int.from_bytes(raw, "big", signed=True))
        pos += size
    return rowid, values[0], values[1], payload[pos:]
