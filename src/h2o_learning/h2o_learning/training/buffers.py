"""Replay buffer: preallocated float32 torch tensors, sampled with torch indexing.

One buffer holds either the offline real dataset (filled once by :meth:`ReplayBuffer.from_arrays`)
or the online sim data (a ring buffer filled by :meth:`ReplayBuffer.add`). Sampling makes one
index tensor and one ``index_select`` per field: no numpy, no per-step host copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from h2o_learning.algorithms.protocol import Batch
from h2o_robot_bridge.errors import DatasetError

FIELDS = ("obs", "action", "reward", "next_obs", "terminal")


class ReplayBuffer:
    """Fixed-capacity FIFO of transitions (oldest overwritten first when full).

    Args:
        obs_dim: observation size.
        action_dim: action size.
        capacity: maximum number of transitions (> 0).
        device: torch device of the storage and of sampled batches.
    """

    def __init__(self, obs_dim: int, action_dim: int, capacity: int, device: str = "cpu") -> None:
        if obs_dim <= 0 or action_dim <= 0 or capacity <= 0:
            raise DatasetError(
                f"ReplayBuffer needs positive sizes, got obs_dim={obs_dim}, "
                f"action_dim={action_dim}, capacity={capacity}"
            )
        self.obs_dim, self.action_dim, self.capacity = int(obs_dim), int(action_dim), int(capacity)
        self.device = torch.device(device)

        # One packed (capacity, 2 obs + action + 2) array: a transition is one row write and a
        # batch one index_select; the fields are column views of it.
        o, a = self.obs_dim, self.action_dim
        self._data = torch.zeros(
            (capacity, 2 * o + a + 2), dtype=torch.float32, device=self.device
        )
        self.obs = self._data[:, :o]
        self.action = self._data[:, o : o + a]
        self.next_obs = self._data[:, o + a : 2 * o + a]
        self.reward = self._data[:, -2]
        self.terminal = self._data[:, -1]
        self._size = 0
        self._next = 0  # index the next transition is written to

    def __len__(self) -> int:
        return self._size

    def add(
        self,
        obs: np.ndarray | torch.Tensor,
        action: np.ndarray | torch.Tensor,
        reward: float,
        next_obs: np.ndarray | torch.Tensor,
        terminal: bool | float,
    ) -> None:
        """Append one transition: obs (obs_dim,), action (action_dim,), scalars reward and
        terminal (1 only for a true termination, not a time limit).

        The per-env-step path: one small host array, one finiteness check, five row writes.
        """
        row = np.empty(2 * self.obs_dim + self.action_dim + 2, dtype=np.float32)
        o, a = self.obs_dim, self.action_dim
        try:
            row[:o] = _flat(obs, o)  # same column order as self._data
            row[o : o + a] = _flat(action, a)
            row[o + a : 2 * o + a] = _flat(next_obs, o)
            row[-2] = float(reward)
            row[-1] = float(terminal)
        except (TypeError, ValueError) as err:
            raise DatasetError(
                f"transition does not fit this buffer (obs_dim={o}, action_dim={a}): {err}"
            ) from err
        if not np.isfinite(row).all():
            raise DatasetError("transition contains NaN or inf")
        i = self._next
        self._data[i] = torch.from_numpy(row)
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def add_batch(
        self,
        obs: np.ndarray | torch.Tensor,
        action: np.ndarray | torch.Tensor,
        reward: np.ndarray | torch.Tensor,
        next_obs: np.ndarray | torch.Tensor,
        terminal: np.ndarray | torch.Tensor,
    ) -> None:
        """Append n transitions: obs (n, obs_dim), action (n, action_dim), reward (n,),
        next_obs (n, obs_dim), terminal (n,). If n exceeds the capacity only the last
        ``capacity`` are kept. Raises DatasetError on a shape mismatch or a non-finite value."""
        data = self._validated(obs, action, reward, next_obs, terminal)
        n = data[0].shape[0]
        if n > self.capacity:
            data = tuple(x[n - self.capacity :] for x in data)
            n = self.capacity
        idx = (torch.arange(n, device=self.device) + self._next) % self.capacity
        for name, value in zip(FIELDS, data, strict=True):
            getattr(self, name)[idx] = value
        self._next = (self._next + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def _validated(self, *arrays: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The five fields as float32 tensors on the device, checked for shape and finiteness."""
        shapes = {
            "obs": (self.obs_dim,),
            "action": (self.action_dim,),
            "reward": (),
            "next_obs": (self.obs_dim,),
            "terminal": (),
        }
        out = []
        n = None
        for name, value in zip(FIELDS, arrays, strict=True):
            t = torch.as_tensor(value, dtype=torch.float32, device=self.device)
            if t.dim() != len(shapes[name]) + 1 or tuple(t.shape[1:]) != shapes[name]:
                expected = ("n", *shapes[name])
                raise DatasetError(
                    f"{name} must have shape {expected} for this buffer, got {tuple(t.shape)}"
                )
            if n is None:
                n = t.shape[0]
            elif t.shape[0] != n:
                raise DatasetError(f"{name} has {t.shape[0]} rows, expected {n}")
            if not bool(torch.isfinite(t).all()):
                raise DatasetError(f"{name} contains NaN or inf")
            out.append(t)
        return tuple(out)

    @classmethod
    def from_arrays(
        cls,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_observations: np.ndarray,
        terminals: np.ndarray,
        device: str = "cpu",
        capacity: int | None = None,
    ) -> ReplayBuffer:
        """A buffer holding a whole dataset (D4RL-style arrays; ``terminals`` excludes time
        limits). ``capacity`` defaults to the dataset size."""
        obs = np.asarray(observations)
        act = np.asarray(actions)
        if obs.ndim != 2 or act.ndim != 2 or len(obs) == 0:
            raise DatasetError(
                f"observations and actions must be non-empty 2-D arrays, got shapes "
                f"{obs.shape} and {act.shape}"
            )
        buffer = cls(obs.shape[1], act.shape[1], capacity or len(obs), device)
        buffer.add_batch(obs, act, rewards, next_observations, terminals)
        return buffer

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        """n transitions drawn uniformly with replacement, using ``generator`` only."""
        if self._size == 0:
            raise DatasetError("cannot sample from an empty replay buffer")
        idx = torch.randint(self._size, (n,), generator=generator, device=self.device)
        rows = self._data.index_select(0, idx)
        o, a = self.obs_dim, self.action_dim
        return Batch(
            rows[:, :o], rows[:, o : o + a], rows[:, -2], rows[:, o + a : 2 * o + a], rows[:, -1]
        )

    def observations(self) -> torch.Tensor:
        """(len, obs_dim) view of the stored observations (for statistics)."""
        return self.obs[: self._size]

    def state_dict(self) -> dict[str, Any]:
        """Stored transitions (only the filled part) and the write position."""
        state: dict[str, Any] = {
            name: getattr(self, name)[: self._size].clone() for name in FIELDS
        }
        state.update(
            capacity=self.capacity,
            size=self._size,
            next=self._next,
            obs_dim=self.obs_dim,
            action_dim=self.action_dim,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; DatasetError if it does not fit this buffer."""
        try:
            dims = (int(state["obs_dim"]), int(state["action_dim"]), int(state["capacity"]))
            size, nxt = int(state["size"]), int(state["next"])
            arrays = [state[name] for name in FIELDS]
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"replay buffer state is incomplete or corrupt: {err}") from err
        if dims != (self.obs_dim, self.action_dim, self.capacity):
            raise DatasetError(
                f"replay buffer state has (obs_dim, action_dim, capacity) = {dims}, "
                f"this buffer {(self.obs_dim, self.action_dim, self.capacity)}"
            )
        if not 0 <= size <= self.capacity or not 0 <= nxt < self.capacity:
            raise DatasetError(f"replay buffer state has bad size {size} or position {nxt}")
        data = self._validated(*arrays) if size else ()
        for name, value in zip(FIELDS, data, strict=True):
            if value.shape[0] != size:
                raise DatasetError(f"replay buffer state: {name} has {value.shape[0]} rows")
            getattr(self, name)[:size] = value
        self._size, self._next = size, nxt


def _flat(value: np.ndarray | torch.Tensor, n: int) -> np.ndarray:
    """A (n,) float array from a numpy array or CPU/GPU tensor; ValueError on another size."""
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    flat = np.asarray(value, dtype=np.float32).reshape(-1)
    if flat.shape != (n,):
        raise ValueError(f"expected {n} values, got shape {np.shape(value)}")
    return flat
