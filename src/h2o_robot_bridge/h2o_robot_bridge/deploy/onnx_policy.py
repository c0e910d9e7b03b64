"""Load an exported ONNX policy, check it against the contract, run it fast on one thread.

The artifact format is :mod:`h2o_robot_bridge.contract.policy` (input ``obs`` (N, OBS_DIM),
outputs ``action`` and ``joint_command`` (N, ACTION_DIM), JSON metadata). Every check happens
at load time, so a robot never starts with a policy made for another contract, task or rate:
each failure is one :class:`PolicyLoadError` or :class:`ContractMismatchError` naming what
differs.

Inference uses onnxruntime with one intra-op and one inter-op thread (sequential execution) and
IO binding over preallocated buffers: a single observation costs a few microseconds and no
allocation per call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import ACTION_DIM, ACTION_OFFSET, ACTION_SCALE, OBS_DIM, Timing
from h2o_robot_bridge.contract.policy import (
    INPUT_NAME,
    OUTPUT_ACTION,
    OUTPUT_JOINT_COMMAND,
    parse_policy_metadata,
)
from h2o_robot_bridge.errors import ContractMismatchError, PolicyLoadError

JOINT_COMMAND_ATOL = 1e-4
"""Allowed |joint_command - (offset + scale * action)| at load [rad or N m] (float32 graph)."""

ACTION_BOUND_TOL = 1e-5
"""Allowed excess of |action| over 1 on the probe observations (tanh in float32)."""


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime  # noqa: PLC0415 - optional until a policy is loaded
    except ImportError as err:  # pragma: no cover - onnxruntime is a package dependency
        raise PolicyLoadError(
            "onnxruntime is not installed; pip install onnxruntime (see requirements/core.txt)"
        ) from err
    return onnxruntime


def make_session(path: Path) -> Any:
    """An onnxruntime CPU session with one thread and sequential execution.

    Raises:
        PolicyLoadError: the file is missing or onnxruntime cannot parse it.
    """
    ort = _import_onnxruntime()
    if not path.is_file():
        raise PolicyLoadError(f"policy file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings would drown the node log
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for bad files
        raise PolicyLoadError(f"{path}: not a loadable ONNX model: {err}") from err


def _check_io(session: Any, what: str) -> None:
    """Names, element types and shapes of the graph's inputs and outputs."""
    inputs = session.get_inputs()
    names = [i.name for i in inputs]
    if names != [INPUT_NAME]:
        raise PolicyLoadError(f"{what}: inputs are {names}, expected [{INPUT_NAME!r}]")
    _check_tensor(inputs[0], OBS_DIM, what, "input")
    outputs = {o.name: o for o in session.get_outputs()}
    for name in (OUTPUT_ACTION, OUTPUT_JOINT_COMMAND):
        if name not in outputs:
            raise PolicyLoadError(f"{what}: no output {name!r} (outputs are {sorted(outputs)})")
        _check_tensor(outputs[name], ACTION_DIM, what, "output")


def _check_tensor(arg: Any, width: int, what: str, kind: str) -> None:
    if arg.type != "tensor(float)":
        raise PolicyLoadError(f"{what}: {kind} {arg.name!r} is {arg.type}, expected tensor(float)")
    shape = list(arg.shape)
    batch_ok = len(shape) == 2 and (not isinstance(shape[0], int) or shape[0] in (1, -1))
    if not batch_ok or shape[1] != width:
        raise PolicyLoadError(
            f"{what}: {kind} {arg.name!r} has shape {shape}, expected [batch, {width}]"
        )


def _check_request(meta: dict[str, Any], task: str | None, control_hz: float | None, what: str):
    if task is not None and meta["task"] != task:
        raise ContractMismatchError(
            f"{what}: policy was trained for task {meta['task']!r}, runner wants {task!r}"
        )
    hz = meta.get("control_hz")
    if not isinstance(hz, (int, float)) or not hz > 0:
        raise PolicyLoadError(f"{what}: metadata control_hz {hz!r} is not a positive number")
    if control_hz is not None and not np.isclose(float(hz), control_hz, rtol=1e-6):
        raise ContractMismatchError(
            f"{what}: policy was trained at control_hz {hz}, runner runs at {control_hz}"
        )


def probe_observations(n: int = 8, seed: int = 0) -> NDArray[np.float32]:
    """(n, OBS_DIM) observations for load-time checks: level and upright first, then random.

    The random rows are modest (|x| <= 1, gravity a unit vector) so a sane policy stays in its
    normal operating range.
    """
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1.0, 1.0, size=(n, OBS_DIM)).astype(np.float32)
    g = rng.normal(size=(n, 3)) * 0.2 + np.array([0.0, 0.0, -1.0])
    obs[:, 0:3] = g / np.linalg.norm(g, axis=1, keepdims=True)
    obs[0] = 0.0
    obs[0, 2] = -1.0
    return obs


class OnnxPolicy:
    """An exported ONNX policy, checked against the contract at load (implements ``Policy``).

    Args:
        path: the ``.onnx`` file (weights embedded; external data next to it also works).
        task: if given, the metadata's task must equal it.
        control_hz: if given, the metadata's control rate must equal it [Hz].

    Attributes:
        name: the file name (logs, diagnostics).
        task: the task from the metadata.
        control_hz: the rate from the metadata [Hz].
        metadata: the whole decoded metadata dict.
        path: the resolved file path.

    Raises:
        PolicyLoadError: missing/corrupt file, wrong input/output names, types or shapes,
            missing/bad metadata, or ``joint_command`` that is not the contract's scaling.
        ContractMismatchError: metadata made for another contract, task or rate.
    """

    def __init__(
        self, path: str | Path, task: str | None = None, control_hz: float | None = None
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        what = str(self.path)
        if control_hz is not None:
            Timing(control_hz=control_hz, physics_hz=control_hz)  # validates > 0
        self._session = make_session(self.path)
        _check_io(self._session, what)
        self.metadata = parse_policy_metadata(
            dict(self._session.get_modelmeta().custom_metadata_map), what
        )
        _check_request(self.metadata, task, control_hz, what)
        self.name = self.path.name
        self.task: str = self.metadata["task"]
        self.control_hz = float(self.metadata["control_hz"])
        self._bind()
        self._check_outputs(probe_observations(), what)

    def _bind(self) -> None:
        """Preallocate (1, dim) buffers and bind them once; ``act`` only copies into them."""
        ort = _import_onnxruntime()
        self._obs = np.zeros((1, OBS_DIM), dtype=np.float32)
        self._action = np.zeros((1, ACTION_DIM), dtype=np.float32)
        self._joint_command = np.zeros((1, ACTION_DIM), dtype=np.float32)
        self._binding = self._session.io_binding()
        self._ort_values = [  # keep references: the binding points into these buffers
            ort.OrtValue.ortvalue_from_numpy(a) for a in (self._obs, self._action)
        ]
        self._ort_values.append(ort.OrtValue.ortvalue_from_numpy(self._joint_command))
        self._binding.bind_ortvalue_input(INPUT_NAME, self._ort_values[0])
        self._binding.bind_ortvalue_output(OUTPUT_ACTION, self._ort_values[1])
        self._binding.bind_ortvalue_output(OUTPUT_JOINT_COMMAND, self._ort_values[2])

    def _check_outputs(self, probes: NDArray[np.float32], what: str) -> None:
        """Run the probes: actions finite and in [-1, 1], joint_command = contract scaling."""
        try:
            action, joint_command = self.run_batch(probes)
        except Exception as err:
            raise PolicyLoadError(
                f"{what}: inference on a probe observation failed: {err}"
            ) from err
        if not np.all(np.isfinite(action)):
            raise PolicyLoadError(f"{what}: non-finite action on a probe observation")
        if np.max(np.abs(action)) > 1.0 + ACTION_BOUND_TOL:
            raise PolicyLoadError(
                f"{what}: action {np.max(np.abs(action)):.4g} outside [-1, 1] on a probe "
                "observation (missing tanh squashing?)"
            )
        expected = ACTION_OFFSET + ACTION_SCALE * action.astype(np.float64)
        error = np.abs(joint_command - expected)
        if not np.all(error <= JOINT_COMMAND_ATOL):
            joint = int(np.unravel_index(np.argmax(error), error.shape)[1])
            raise PolicyLoadError(
                f"{what}: output {OUTPUT_JOINT_COMMAND!r} differs from the contract's scaling "
                f"of {OUTPUT_ACTION!r} by {error.max():.3g} at joint {joint} (exported with "
                "another ACTION_SCALE/ACTION_OFFSET?)"
            )
        # A single-sample call must agree with the batch (catches batch-dependent graphs).
        single = self.act(probes[0])
        if not np.allclose(single, action[0], atol=1e-6):
            raise PolicyLoadError(f"{what}: single-observation action differs from batch result")

    def run_batch(self, obs: ArrayLike) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(action, joint_command), each (N, ACTION_DIM), for observations (N, OBS_DIM).

        Allocates; for tests and tools. The control loop uses :meth:`act`.
        """
        x = np.ascontiguousarray(np.atleast_2d(obs), dtype=np.float32)
        action, joint_command = self._session.run(
            [OUTPUT_ACTION, OUTPUT_JOINT_COMMAND], {INPUT_NAME: x}
        )
        return action, joint_command

    def reset(self) -> None:
        """Nothing to forget: the exported policy is a feed-forward function."""

    def act(self, obs: ArrayLike) -> NDArray[np.float32]:
        """Action (ACTION_DIM,) for one observation (OBS_DIM,); ~6-10 us on one core.

        The result is a fresh array (the internal buffer is overwritten on the next call).
        """
        np.copyto(self._obs[0], obs, casting="same_kind")
        self._session.run_with_iobinding(self._binding)
        return self._action[0].copy()

    def last_joint_command(self) -> NDArray[np.float32]:
        """The graph's ``joint_command`` output of the last :meth:`act` call (ACTION_DIM,)."""
        return self._joint_command[0].copy()
