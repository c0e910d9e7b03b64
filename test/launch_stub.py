"""Evaluate a ``launch/*.launch.py`` without ROS 2 ``launch``: a minimal stand-in (test only).

``ros2 launch`` cannot run here (no wheel exists for ``launch``/``launch_ros``), so
:func:`evaluate` imports a launch file against small stand-ins of the few classes the stack's
launch files use (``LaunchDescription``, ``DeclareLaunchArgument``, ``OpaqueFunction``,
``LogInfo``, ``LaunchConfiguration``, ``Node``, ``ParameterValue``), applies the given launch
arguments over the declared defaults as ``ros2 launch file.py a:=b`` does, runs the opaque
functions and returns every ``Node`` with its substitutions performed: what ``launch_ros``
would hand to the process (namespace, parameter files and values, remappings, arguments).
Packages resolve to the source tree (``config/...`` then names a file of this checkout).
"""

from __future__ import annotations

import runpy
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


class LaunchError(Exception):
    """What ``ros2 launch`` would refuse (an argument without a value, ...)."""


class _Context:
    def __init__(self, configurations: dict[str, str]) -> None:
        self.launch_configurations = configurations


class LaunchConfiguration:
    def __init__(self, variable_name: str) -> None:
        self.variable_name = variable_name

    def perform(self, context: _Context) -> str:
        if self.variable_name not in context.launch_configurations:
            raise LaunchError(f"launch configuration {self.variable_name!r} is not set")
        return context.launch_configurations[self.variable_name]


class DeclareLaunchArgument:
    def __init__(self, name: str, default_value: str | None = None, description: str = "") -> None:
        self.name, self.default_value, self.description = name, default_value, description


class OpaqueFunction:
    def __init__(self, function: Any) -> None:
        self.function = function


class LogInfo:
    def __init__(self, msg: str) -> None:
        self.msg = msg


class ParameterValue:
    def __init__(self, value: Any, value_type: type | None = None) -> None:
        self.value, self.value_type = value, value_type


class LaunchDescription:
    def __init__(self, entities: list[Any]) -> None:
        self.entities = list(entities)


class Node:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class PackageNotFoundError(KeyError):
    pass


@dataclass
class StartedNode:
    """A ``Node`` with its substitutions performed."""

    package: str
    executable: str
    name: str
    namespace: str
    params_files: list[str]
    params: dict[str, Any]
    remappings: list[tuple[str, str]]
    arguments: list[str]


@dataclass
class Evaluation:
    """What the launch file would start and log."""

    nodes: list[StartedNode] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    declared: dict[str, str | None] = field(default_factory=dict)

    def node(self, executable: str) -> StartedNode:
        (found,) = [n for n in self.nodes if n.executable == executable]
        return found


def _perform(value: Any, context: _Context) -> Any:
    if isinstance(value, LaunchConfiguration):
        return value.perform(context)
    if isinstance(value, ParameterValue):
        raw = _perform(value.value, context)
        if value.value_type is bool:
            parsed = yaml.safe_load(raw)
            if not isinstance(parsed, bool):
                raise LaunchError(f"{raw!r} is not a boolean")
            return parsed
        return value.value_type(raw) if value.value_type is not None else yaml.safe_load(raw)
    if isinstance(value, (list, tuple)):
        return type(value)(_perform(v, context) for v in value)
    return value


def _started(node: Node, context: _Context) -> StartedNode:
    kw = node.kwargs
    files: list[str] = []
    params: dict[str, Any] = {}
    for entry in kw.get("parameters", []):
        if isinstance(entry, dict):
            params.update({k: _perform(v, context) for k, v in entry.items()})
        else:
            files.append(str(_perform(entry, context)))
    return StartedNode(
        package=kw["package"],
        executable=kw["executable"],
        name=kw.get("name", kw["executable"]),
        namespace=str(_perform(kw.get("namespace", ""), context)),
        params_files=files,
        params=params,
        remappings=[tuple(_perform(list(r), context)) for r in kw.get("remappings", [])],
        arguments=[str(_perform(a, context)) for a in kw.get("arguments", [])],
    )


@contextmanager
def _stand_ins(installed: set[str]) -> Iterator[None]:
    def share(package: str) -> str:
        if package not in installed:
            raise PackageNotFoundError(package)
        return str(ROOT)  # share/<pkg>/config/... -> this checkout's config/...

    modules = {
        "launch": {"LaunchDescription": LaunchDescription},
        "launch.actions": {
            "DeclareLaunchArgument": DeclareLaunchArgument,
            "OpaqueFunction": OpaqueFunction,
            "LogInfo": LogInfo,
        },
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Node},
        "launch_ros.parameter_descriptions": {"ParameterValue": ParameterValue},
        "ament_index_python": {},
        "ament_index_python.packages": {
            "get_package_share_directory": share,
            "PackageNotFoundError": PackageNotFoundError,
        },
    }
    saved = {name: sys.modules.get(name) for name in modules}
    try:
        for name, attrs in modules.items():
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


WORKSPACE = {"h2o_sim", "h2o_robot_bridge", "h2o_learning"}


def evaluate(
    path: Path, args: dict[str, str] | None = None, installed: set[str] = WORKSPACE
) -> Evaluation:
    """Run ``path``'s ``generate_launch_description`` with launch arguments ``args``.

    Args:
        path: the launch file.
        args: ``name: value`` as given on the ``ros2 launch`` command line.
        installed: packages ``get_package_share_directory`` finds.

    Raises:
        LaunchError: an argument given that the file does not declare, or one without a value.
    """
    args = dict(args or {})
    with _stand_ins(installed):
        description = runpy.run_path(str(path))["generate_launch_description"]()
        out = Evaluation()
        configurations: dict[str, str] = {}
        pending: list[Any] = list(description.entities)
        declared = [e for e in pending if isinstance(e, DeclareLaunchArgument)]
        out.declared = {e.name: e.default_value for e in declared}
        unknown = set(args) - set(out.declared)
        if unknown:
            raise LaunchError(f"{path.name}: undeclared arguments {sorted(unknown)}")
        for arg in declared:
            value = args.get(arg.name, arg.default_value)
            if value is None:
                raise LaunchError(f"{path.name}: argument {arg.name!r} needs a value")
            configurations[arg.name] = value
        context = _Context(configurations)
        while pending:
            entity = pending.pop(0)
            if isinstance(entity, OpaqueFunction):
                pending[:0] = entity.function(context) or []
            elif isinstance(entity, Node):
                out.nodes.append(_started(entity, context))
            elif isinstance(entity, LogInfo):
                out.logs.append(str(_perform(entity.msg, context)))
        return out
