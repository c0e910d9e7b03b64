"""The demo's ROS graph: the simulated robot, policy_runner, dataset_recorder and the demo's
supervisor, each a separate process on a private ``ROS_DOMAIN_ID`` (no rclpy here).

The nodes are started with :func:`h2o_robot_bridge.testing.processes.node_process` from the
same console scripts and parameter files the launch files use
(``config/sim/wheel_legged_sim.yaml``, ``config/bridge/deploy.yaml``,
``config/bridge/recorder.yaml``); only single values are set on
top (profile, seed, policy, trigger, output file).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.errors import H2OError
from h2o_robot_bridge.testing.processes import NodeProcess, node_process, ros_env

STOP_TIMEOUT = 30.0
"""[s] a node gets after SIGINT before SIGKILL (the recorder writes its dataset then)."""


class GraphError(H2OError):
    """A node of the demo's graph died or the supervisor did not finish."""

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(f"{message} (log: {log})")
        self.log = log


def sim_process(log_dir: Path, domain_id: int, seed: int) -> NodeProcess:
    """``wheel_legged_sim`` with the ``real`` profile: the robot."""
    return node_process(
        "wheel_legged_sim",
        log_dir,
        domain_id,
        params_files=[config_file("h2o_sim", "sim/wheel_legged_sim.yaml")],
        params={"dynamics": "real", "seed": seed},
    )


def runner_process(
    log_dir: Path,
    domain_id: int,
    policy: str,
    trigger: str,
    noise_std: float = 0.0,
    fallback: str = "none",
    remaps: dict[str, str] | None = None,
) -> NodeProcess:
    """``policy_runner`` running ``policy`` (``classical`` or an ONNX path); ``remaps``: ROS
    name remappings (e.g. a topic it must not hear, in tests).

    The fallback controller is off by default here: the demo measures each policy alone (a
    fall is a result, deployed as in-process) and records the behaviour policy's own data.
    The graph has no e-stop, so there is no start-up wait for its state.
    """
    # No e-stop in the demo's graph: no start-up wait for its state (without a fallback the
    # wait holds the safe action, and the supervisor's first episode may start inside it).
    params: dict[str, object] = {
        "policy": policy,
        "trigger": trigger,
        "fallback": fallback,
        "estop_wait": 0.0,
    }
    if noise_std > 0:
        params["exploration_noise_std"] = float(noise_std)
    return node_process(
        "policy_runner",
        log_dir,
        domain_id,
        params_files=[config_file("h2o_robot_bridge", "bridge/deploy.yaml")],
        params=params,
        remaps=remaps,
    )


def recorder_process(log_dir: Path, domain_id: int, output: Path, task: str) -> NodeProcess:
    """``dataset_recorder`` writing ``output`` (replacing a previous demo's file)."""
    return node_process(
        "dataset_recorder",
        log_dir,
        domain_id,
        params_files=[config_file("h2o_robot_bridge", "bridge/recorder.yaml")],
        params={
            "output": str(output),
            "task": task,
            "overwrite": True,
            "robot_id": "sim-real (h2o-demo)",
        },
    )


def supervisor_process(
    log_dir: Path, domain_id: int, out: Path, mode: str, **options: object
) -> NodeProcess:
    """The demo's supervisor (:mod:`h2o_learning.nodes.supervisor_node`) writing ``out``."""
    argv = [sys.executable, "-m", "h2o_learning.nodes.supervisor_node", "--mode", mode]
    argv += ["--out", str(out)]
    for key, value in options.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    return NodeProcess("supervisor", argv, ros_env(domain_id), Path(log_dir) / "supervisor.log")


def last_progress(supervisor: NodeProcess) -> tuple[int, int]:
    """(transitions, episodes) of the supervisor's newest ``PROGRESS`` line."""
    for line in reversed(supervisor.log().splitlines()):
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "PROGRESS":
            return int(parts[1]), int(parts[2])
    return 0, 0


def run_graph(
    nodes: list[NodeProcess],
    supervisor: NodeProcess,
    timeout: float,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Start ``nodes`` (the robot last), the supervisor before the robot; wait for the
    supervisor; then stop the supervisor and ``nodes`` in start order.

    Commanders start before the robot, so its first ticks find them running; stopping the
    policy runner first ends the recorded ticks before the robot goes away.

    Raises:
        GraphError: a node exited early, or the supervisor failed or timed out.
    """
    with contextlib.ExitStack() as stack:
        stack.callback(_stop_all, [supervisor, *nodes])
        for node in nodes[:-1]:
            node.start()
        supervisor.start()
        nodes[-1].start()
        _wait(nodes, supervisor, timeout, on_progress)
    code = supervisor.proc.returncode if supervisor.proc else None
    if code != 0:
        raise GraphError(f"supervisor ended with exit code {code}", supervisor.log_path)


def _wait(
    nodes: list[NodeProcess],
    supervisor: NodeProcess,
    timeout: float,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    end = time.monotonic() + timeout
    while supervisor.alive():
        for node in nodes:
            if not node.alive():
                code = node.proc.returncode if node.proc is not None else None
                raise GraphError(f"{node.name} exited early (code {code})", node.log_path)
        if time.monotonic() > end:
            raise GraphError(f"not finished within {timeout:.0f} s", supervisor.log_path)
        if on_progress is not None:
            on_progress(*last_progress(supervisor))
        time.sleep(0.5)
    if on_progress is not None:
        on_progress(*last_progress(supervisor))


def _stop_all(nodes: list[NodeProcess]) -> None:
    """Stop one by one; the recorder (if any) gets time to write its file."""
    for node in nodes:
        node.stop(timeout=STOP_TIMEOUT)
