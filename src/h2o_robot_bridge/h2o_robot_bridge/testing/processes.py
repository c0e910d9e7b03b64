"""Start the stack's console scripts as separate processes, as a launch file would.

The demo and the system tests use this one helper so that they run the same executables with
the same parameter files as ``launch/*.launch.py`` (where ``ros2 launch`` is unavailable).
Nothing here imports rclpy: a node is just a process with ``--ros-args``.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from h2o_robot_bridge.errors import ConfigError, H2OError


class ProcessError(H2OError):
    """A node process could not be started or ended badly."""


def ros_env(domain_id: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an isolated ROS graph: private domain id, localhost-only discovery."""
    env = dict(os.environ if base is None else base)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


DOMAIN_IDS = range(1, 101)
"""The ROS_DOMAIN_IDs tests and tools lease (benchmarks that need many use 120 and up)."""
_LEASES: dict[int, int] = {}
_NEXT = [os.getpid()]  # where the next search starts: successive leases move on


def _lease_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "h2o_ros_domains"
    folder.mkdir(exist_ok=True)
    return folder


def free_domain_id() -> int:
    """Lease a ROS_DOMAIN_ID in :data:`DOMAIN_IDS` no other holder has, in any process.

    The lease is an exclusive ``flock`` on one file per id, held until
    :func:`release_domain_id` or until this process exits (the kernel drops the lock even on
    SIGKILL, so a crashed run never leaks an id). Two tests of one run, or two test runs on one
    machine, therefore never share a DDS graph. The search starts at a pid-derived id so that
    concurrent processes rarely contend for the same file, and moves on with every lease, so a
    released id is not handed out again at once (a node of the last test may still be exiting).

    Raises:
        ProcessError: every id is leased.
    """
    for k in range(len(DOMAIN_IDS)):
        domain = DOMAIN_IDS[(_NEXT[0] + k) % len(DOMAIN_IDS)]
        if domain in _LEASES:
            continue
        fd = os.open(_lease_dir() / f"{domain}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _LEASES[domain] = fd
        _NEXT[0] += k + 1
        return domain
    raise ProcessError(f"every ROS_DOMAIN_ID in {DOMAIN_IDS} is leased by another process")


def release_domain_id(domain: int) -> None:
    """End the lease :func:`free_domain_id` gave (no-op for an id this process does not hold)."""
    fd = _LEASES.pop(domain, None)
    if fd is not None:
        os.close(fd)  # closing the file drops the flock


def find_executable(name: str) -> str:
    """Path of console script ``name``: next to this Python first, then on ``PATH``."""
    here = str(Path(sys.executable).parent)
    found = shutil.which(name, path=here + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        raise ProcessError(
            f"executable {name!r} not found next to {sys.executable} or on PATH; "
            "run 'make setup' (or 'colcon build' and source install/setup.bash)"
        )
    return found


def ros_args(
    params_files: list[str | Path] = (),  # type: ignore[assignment]
    params: dict[str, object] | None = None,
    remaps: dict[str, str] | None = None,
    namespace: str = "",
) -> list[str]:
    """``--ros-args`` for a namespace, parameter files, single parameters and remappings.

    A ``namespace`` (``"/r1"`` or ``"r1"``) is applied as a launch file's ``namespace:=r1``
    does: ``-r __ns:=/r1`` and :data:`~h2o_robot_bridge.contract.topics.NAMESPACE_REMAPS`
    (``/clock`` -> ``/r1/clock``). Floats are written with a decimal point (``-p rate:=250``
    would not set a double).
    """
    args = ["--ros-args"]
    if namespace.strip("/ "):
        from h2o_robot_bridge.contract.topics import NAMESPACE_REMAPS  # noqa: PLC0415

        args += ["-r", f"__ns:=/{namespace.strip('/ ')}"]
        for src, dst in NAMESPACE_REMAPS:
            args += ["-r", f"{src}:={dst}"]
    for path in params_files:
        if not Path(path).is_file():
            raise ConfigError(f"parameter file not found: {path}")
        args += ["--params-file", str(path)]
    for key, value in (params or {}).items():
        args += ["-p", f"{key}:={_param_text(value)}"]
    for src, dst in (remaps or {}).items():
        args += ["-r", f"{src}:={dst}"]
    return args


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_param_text(v) for v in value) + "]"
    return str(value)


@dataclass
class NodeProcess:
    """A running console script; use as a context manager so it is always stopped.

    Attributes:
        name: label for logs and errors.
        argv: full command line.
        env: its environment.
        log_path: where its stdout and stderr go.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> NodeProcess:
        """Start the process (its own process group, so a stop reaches its children)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        """Block until ``text`` appears in the process's output (e.g. a node's start-up line,
        printed once its subscriptions exist). Raises ProcessError if it exits or ``timeout``
        seconds pass first, with the log's tail."""
        end = time.monotonic() + timeout
        while text not in self.log():
            if not self.alive() or time.monotonic() > end:
                state = "exited" if not self.alive() else f"still silent after {timeout} s"
                raise ProcessError(f"{self.name} {state} before {text!r}:\n{self.log()[-2000:]}")
            time.sleep(0.05)

    def wait(self, timeout: float) -> int:
        """Wait for exit; returns the exit code. Raises ProcessError on timeout."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise ProcessError(f"{self.name} still running after {timeout} s") from err

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGINT (a clean ROS shutdown), then SIGKILL after ``timeout`` seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        """Send ``sig`` (e.g. ``signal.SIGTERM``) to the process group."""
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL at once (crash tests)."""
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __enter__(self) -> NodeProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def node_process(
    executable: str,
    log_dir: Path,
    domain_id: int,
    params_files: list[str | Path] = (),  # type: ignore[assignment]
    params: dict[str, object] | None = None,
    remaps: dict[str, str] | None = None,
    extra_args: list[str] = (),  # type: ignore[assignment]
    name: str | None = None,
    namespace: str = "",
) -> NodeProcess:
    """A not-yet-started :class:`NodeProcess` for console script ``executable``.

    Args:
        executable: console script name as declared in the package's setup.py (the same name a
            launch file's ``Node(executable=...)`` uses).
        log_dir: folder for ``<name>.log``.
        domain_id: ROS_DOMAIN_ID of the isolated graph.
        params_files, params, remaps, namespace: as :func:`ros_args`.
        extra_args: plain arguments placed before ``--ros-args``.
        name: label for logs (default: the executable, ``_r1`` appended in namespace ``r1``).
    """
    suffix = "_" + namespace.strip("/ ").replace("/", "_") if namespace.strip("/ ") else ""
    label = name or executable + suffix
    argv = [find_executable(executable), *extra_args]
    argv += ros_args(params_files, params, remaps, namespace)
    return NodeProcess(label, argv, ros_env(domain_id), Path(log_dir) / f"{label}.log")


def clean_shared_memory() -> int:
    """Remove Fast DDS shared-memory files left by killed processes; returns how many.

    Only files whose owning lock is not held are removed, so live processes are unaffected.
    """
    removed = 0
    for path in glob.glob("/dev/shm/fastrtps_*") + glob.glob("/dev/shm/fast_datasharing*"):
        if path.endswith("_el") or path.endswith("_sl"):
            continue
        if _unlocked(path):
            for p in (path, path + "_el", path + "_sl"):
                try:
                    os.remove(p)
                    removed += 1
                except OSError:
                    pass
    return removed


def _unlocked(path: str) -> bool:
    import fcntl

    lock = path + "_el"
    if not os.path.exists(lock):
        return time.time() - os.path.getmtime(path) > 60
    try:
        with open(lock, "rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
        return True
    except OSError:
        return False


def policy_runner_process(
    policy: str | Path, log_dir: Path, domain_id: int, namespace: str = "", **params: object
) -> NodeProcess:
    """``policy_runner`` with the shipped ``config/bridge/deploy.yaml`` (as the deploy launch
    file starts it), running ``policy``, with ``params`` on top, in ``namespace`` (as
    ``namespace:=``; "" = the root)."""
    from h2o_robot_bridge.config_files import config_file  # noqa: PLC0415

    return node_process(
        "policy_runner",
        log_dir,
        domain_id,
        params_files=[config_file("h2o_robot_bridge", "bridge/deploy.yaml")],
        params={"policy": str(policy), **params},
        namespace=namespace,
    )


def sim_node_process(
    log_dir: Path, domain_id: int, namespace: str = "", **params: object
) -> NodeProcess:
    """``wheel_legged_sim`` with the shipped ``config/sim/wheel_legged_sim.yaml`` (as its
    launch file starts it), with ``params`` on top, in ``namespace`` ("" = the root)."""
    from h2o_robot_bridge.config_files import config_file  # noqa: PLC0415

    return node_process(
        "wheel_legged_sim",
        log_dir,
        domain_id,
        params_files=[config_file("h2o_sim", "sim/wheel_legged_sim.yaml")],
        params=dict(params),
        namespace=namespace,
    )
