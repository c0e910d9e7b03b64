"""Read the messages of a damaged rosbag2 that ``rosbags`` refuses to open.

What a killed ``ros2 bag record`` leaves behind: no ``metadata.yaml`` (written on close) and,
for MCAP, no summary or footer (the file just stops, possibly inside a record). Both storage
files are still readable from the start:

- MCAP: records are parsed sequentially (schemas, channels, messages, chunks compressed with
  lz4 or zstd) until the first incomplete record;
- sqlite3: the ``topics`` and ``messages`` tables are read with the standard library until the
  first unreadable page.

:func:`salvage_messages` yields ``(topic, msgtype, log_time_ns, raw_cdr)`` in file order and
records in :class:`SalvageReport` where and why reading stopped.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MCAP_MAGIC = b"\x89MCAP0\r\n"
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_RECORD = struct.Struct("<BQ")
_MESSAGE = struct.Struct("<HIQQ")
_CHUNK = struct.Struct("<QQQI")


@dataclass
class SalvageReport:
    """Where salvaging stopped (empty ``stopped`` = the files were read to their end)."""

    files: int = 0
    messages: int = 0
    stopped: str = ""


def storage_files(bag: Path) -> list[Path]:
    """The ``.mcap`` / ``.db3`` files of a bag folder (or the file itself), in name order."""
    if bag.is_file():
        return [bag]
    return sorted(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))


def salvage_messages(bag: Path, report: SalvageReport) -> Iterator[tuple[str, str, int, bytes]]:
    """Messages of every storage file of ``bag`` (see the module docstring)."""
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


def _sqlite_messages(path: Path, report: SalvageReport) -> Iterator[tuple[str, str, int, bytes]]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        report.stopped = f"{path.name}: cannot open as sqlite3: {err}"
        return
    try:
        topics = {i: (n, t) for i, n, t in con.execute("SELECT id, name, type FROM topics")}
        rows = con.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id")
        for topic_id, stamp, data in rows:
            topic, msgtype = topics.get(topic_id, ("", ""))
            yield topic, msgtype, int(stamp), bytes(data)
    except sqlite3.Error as err:
        report.stopped = f"{path.name}: sqlite3 stopped: {err}"
    finally:
        con.close()
