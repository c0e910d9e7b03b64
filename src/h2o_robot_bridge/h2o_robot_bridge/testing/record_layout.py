"""A bag laid out as ``ros2 bag record`` writes it: storage files split like
``--max-bag-size`` splits them (``<bag>_0.mcap``, ``<bag>_1.mcap``, ...) and the
``metadata.yaml`` rosbag2 writes on close, field by field as rosbag2_storage's ``yaml.hpp``
emits it (metadata version 9: Jazzy, Kilted; version 8: Iron).

The storage files are written with ``rosbags`` (:class:`RobotBagWriter`), one per split; only
the folder layout and the metadata are rosbag2's. The version-dependent part is the offered QoS
of each topic: version 9 writes a YAML list of profiles with the policies by name
(``reliable``), version 8 a YAML *string* holding that list with the policies as numbers.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter, Storage
from h2o_robot_bridge.testing.align_script import Script

Part = Callable[[RobotBagWriter], None]
"""Writes the messages of one split file."""

_INFINITE = {"sec": 9223372036, "nsec": 854775807}  # RMW_DURATION_INFINITE
_DISTRO = {8: "iron", 9: "jazzy"}
_EXT = {"mcap": "mcap", "sqlite3": "db3"}


def _qos_v9(indent: str) -> str:
    """One offered profile, as a DDS publisher reports it (history and depth unknown), in
    metadata version 9: a YAML list item, policies by name."""
    t = f"\n{indent}    sec: {_INFINITE['sec']}\n{indent}    nsec: {_INFINITE['nsec']}"
    return (
        f"\n{indent}- history: unknown\n{indent}  depth: 0\n{indent}  reliability: reliable"
        f"\n{indent}  durability: volatile\n{indent}  deadline:{t}\n{indent}  lifespan:{t}"
        f"\n{indent}  liveliness: automatic\n{indent}  liveliness_lease_duration:{t}"
        f"\n{indent}  avoid_ros_namespace_conventions: false"
    )


def _qos_v8() -> str:
    """The same profile in metadata version 8: a YAML string (double quoted), policies as
    rmw enum numbers (history 3 unknown, reliability 1 reliable, durability 2 volatile,
    liveliness 1 automatic)."""
    t = f"\n    sec: {_INFINITE['sec']}\n    nsec: {_INFINITE['nsec']}"
    profile = (
        f"- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2\n  deadline:{t}"
        f"\n  lifespan:{t}\n  liveliness: 1\n  liveliness_lease_duration:{t}"
        "\n  avoid_ros_namespace_conventions: false"
    )
    return " " + json.dumps(profile)  # a JSON string is a valid YAML double-quoted scalar


def offered_qos() -> list[Any]:
    """The profile of :func:`_qos_v9` / :func:`_qos_v8` as ``rosbags`` parses it: what the
    storage files must hold too (rosbags matches a file's topics to the metadata's by it)."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    infinite = QosTime(_INFINITE["sec"], _INFINITE["nsec"])
    return [
        Qos(
            QosHistory.UNKNOWN,
            0,
            QosReliability.RELIABLE,
            QosDurability.VOLATILE,
            infinite,
            infinite,
            QosLiveliness.AUTOMATIC,
            infinite,
            False,
        )
    ]


def _files(
    path: Path, storage: Storage, version: Literal[8, 9], parts: Sequence[Part]
) -> list[dict[str, Any]]:
    """Write each part as ``<path.name>_<i>.<ext>`` into ``path``; per file what ``rosbags``
    recorded of it (its own metadata.yaml, removed with its scratch folder)."""
    path.mkdir()
    out = []
    for i, part in enumerate(parts):
        name = f"{path.name}_{i}"
        scratch = path.parent / f".{name}.scratch"
        with RobotBagWriter(
            scratch / name, storage, version=version, offered_qos=offered_qos()
        ) as w:
            part(w)
        info = yaml.safe_load((scratch / name / "metadata.yaml").read_text())
        (scratch / name / f"{name}.{_EXT[storage]}").rename(path / f"{name}.{_EXT[storage]}")
        shutil.rmtree(scratch)
        out.append(info["rosbag2_bagfile_information"])
    return out


def _metadata(path: Path, storage: Storage, version: int, files: list[dict[str, Any]]) -> str:
    """``metadata.yaml`` of the split bag, keys in yaml.hpp's order."""
    start = min(f["starting_time"]["nanoseconds_since_epoch"] for f in files)
    end = max(
        f["starting_time"]["nanoseconds_since_epoch"] + f["duration"]["nanoseconds"] for f in files
    )
    topics: dict[str, dict[str, Any]] = {}
    for f in files:
        for entry in f["topics_with_message_count"]:
            meta = entry["topic_metadata"]
            topic = topics.setdefault(meta["name"], {**meta, "message_count": 0})
            topic["message_count"] += entry["message_count"]
    names = [f"{path.name}_{i}.{_EXT[storage]}" for i in range(len(files))]
    lines = [
        "rosbag2_bagfile_information:",
        f"  version: {version}",
        f"  storage_identifier: {storage}",
        "  duration:",
        f"    nanoseconds: {end - start}",
        "  starting_time:",
        f"    nanoseconds_since_epoch: {start}",
        f"  message_count: {sum(f['message_count'] for f in files)}",
        "  topics_with_message_count:",
    ]
    for t in topics.values():
        qos = _qos_v9(" " * 10) if version >= 9 else _qos_v8()
        lines += [
            "    - topic_metadata:",
            f"        name: {t['name']}",
            f"        type: {t['type']}",
            "        serialization_format: cdr",
            f"        offered_qos_profiles:{qos}",
            f"        type_description_hash: {t['type_description_hash']}",
            f"      message_count: {t['message_count']}",
        ]
    lines += ['  compression_format: ""', '  compression_mode: ""', "  relative_file_paths:"]
    lines += [f"    - {name}" for name in names]
    lines.append("  files:")
    for name, f in zip(names, files, strict=True):
        lines += [
            f"    - path: {name}",
            "      starting_time:",
            f"        nanoseconds_since_epoch: {f['starting_time']['nanoseconds_since_epoch']}",
            "      duration:",
            f"        nanoseconds: {f['duration']['nanoseconds']}",
            f"      message_count: {f['message_count']}",
        ]
    lines += ["  custom_data:", "    robot: wl-01", f"  ros_distro: {_DISTRO[version]}", ""]
    return "\n".join(lines)


def write_record_layout(
    path: Path, parts: Sequence[Part], storage: Storage = "mcap", version: Literal[8, 9] = 9
) -> Path:
    """Create the bag folder ``path`` as ``ros2 bag record -s <storage>`` leaves it after
    ``len(parts)`` splits: one storage file per part, then ``metadata.yaml``.

    Args:
        path: bag folder to create (must not exist); its name prefixes the storage files.
        parts: per split file, what to write into it.
        storage: ``"mcap"`` or ``"sqlite3"``.
        version: rosbag2 metadata version, 8 (Iron) or 9 (Jazzy, Kilted).
    """
    if version not in _DISTRO:
        raise ValueError(f"metadata version {version}: 8 or 9")
    files = _files(path, storage, version, parts)
    (path / "metadata.yaml").write_text(_metadata(path, storage, version, files))
    return path


def write_single_file(path: Path, parts: Sequence[Part], storage: Storage = "mcap") -> Path:
    """The same messages in one storage file (the reference a split bag must equal)."""
    with RobotBagWriter(path, storage) as w:
        for part in parts:
            part(w)
    return path


def script_parts(sc: Script, splits: int) -> list[Part]:
    """The script's ticks cut into ``splits`` consecutive parts of (nearly) equal length, as
    size-based splits cut a recording at a steady rate. Each part also holds a ``/cmd_vel``
    (2 ms before its first tick) and the second one a reset (2 ms before its middle tick):
    every topic the converter reads."""
    bounds = [round(i * len(sc.t) / splits) for i in range(splits + 1)]

    def part(i: int) -> Part:
        lo, hi = bounds[i], bounds[i + 1]

        def write(w: RobotBagWriter) -> None:
            w.write_cmd_vel(sc.t[lo] - 0.002, 0.1 * (i + 1), 0.05 * i)
            if i == 1:
                w.write_reset(sc.t[(lo + hi) // 2] - 0.002)
            sc.write_bag(w, ticks=range(lo, hi), sensors=range(lo, hi))

        return write

    return [part(i) for i in range(splits)]
