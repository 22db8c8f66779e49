"""The env batch spread over devices: one mesh axis, its shardings, several hosts.

JAX's sharding does the work. A 1-D mesh with one axis, ``"envs"``, spans the
devices (:func:`env_mesh`); everything batched over envs (env state,
observations, rewards, flags, the reset pool, a learner's rollout) is sharded
on its env axis over it, and everything else (env params, network params,
optimiser state) is replicated. Inside ``jax.jit`` the batched code pins that
layout with :func:`constrain_envs`; the compiler partitions the rest and
inserts the all-reduces a mean over the batch needs, so a learner's gradients
are averaged across devices without code of its own.

The mesh reaches the code in one of two ways:

* passed in: ``AutoResetVecEnv(env, num_envs, mesh=mesh)`` and the adapters'
  ``mesh=``;
* ambient, for learners: ``with jax.set_mesh(mesh): train(key)`` (what
  ``omnigym train --devices N`` does). :func:`constrain_envs` with no mesh
  reads the ambient one and is the identity where there is none, so the same
  learner code runs on one device unchanged.

The program is the single-device program with a layout, so a same-seed run
gives the single-device numbers: bit for bit on the env path (elementwise per
env, integer counts), to float tolerance where a sharded sum reorders its terms.

Several hosts: :func:`initialize_distributed` starts ``jax.distributed`` from
the usual environment variables; ``jax.devices()`` then lists every host's
devices, :func:`env_mesh` spans them all, and each process holds (and
computes) its own share of the envs. A host-side loop (the Gymnasium and SB3
adapters) is per process instead: :func:`process_seed` offsets its seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

#: The mesh axis the env batch is sharded over.
ENV_AXIS = "envs"


def env_mesh(devices: int | Sequence[jax.Device] | None = None, local: bool = False) -> Mesh:
    """A 1-D ``"envs"`` mesh over ``devices``: a list, a count of the first
    devices of ``jax.devices()``, or ``None`` for all of them (every host's;
    with ``local``, this process's only: ``jax.local_devices()``)."""
    available = jax.local_devices() if local else jax.devices()
    if devices is None:
        chosen = list(available)
    elif isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"devices must be between 1 and the {len(available)} devices JAX sees "
                f"({available[0].platform}), got {devices}."
            )
        chosen = list(available[:devices])
    else:
        chosen = list(devices)
        if not chosen:
            raise ValueError("devices is an empty list; pass None for all devices.")
    return jax.make_mesh((len(chosen),), (ENV_AXIS,), axis_types=(AxisType.Auto,), devices=chosen)


def mesh_size(mesh: Mesh | None) -> int:
    """The devices the env axis spans (1 without a mesh)."""
    return 1 if mesh is None else int(mesh.shape[ENV_AXIS])


def ambient_mesh() -> Any:
    """The mesh set by ``jax.set_mesh`` if it has an ``"envs"`` axis, else ``None``."""
    mesh = jax.sharding.get_abstract_mesh()
    return mesh if not mesh.empty and ENV_AXIS in mesh.axis_names else None


def check_divisible(count: int, mesh: Any, what: str = "num_envs") -> None:
    """A clear error unless ``count`` rows split evenly over the mesh's devices."""
    size = 1 if mesh is None else int(mesh.shape[ENV_AXIS])
    if count % size:
        raise ValueError(
            f"{what}={count} does not split over the {size} devices of the mesh: pass a "
            f"multiple of {size}, or fewer devices (devices= / --devices)."
        )


def env_spec(axis: int = 0) -> PartitionSpec:
    """``PartitionSpec`` with the env axis at ``axis`` (and ``None`` before it)."""
    return PartitionSpec(*([None] * axis), ENV_AXIS)


def env_sharding(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Arrays whose ``axis`` is the env axis, split over ``mesh``."""
    return NamedSharding(mesh, env_spec(axis))


def replicated(mesh: Mesh) -> NamedSharding:
    """Arrays held whole on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def constrain_envs(tree: Any, mesh: Any = None, axis: int = 0, what: str = "num_envs") -> Any:
    """Inside ``jit``: every leaf of ``tree`` sharded on its ``axis`` over the
    env axis of ``mesh`` (default: the ambient mesh; none: ``tree`` as it is).
    ``what`` names the batch in the error raised when it does not split evenly."""
    mesh = ambient_mesh() if mesh is None else mesh
    if mesh is None or mesh_size(mesh) == 1:
        return tree
    spec = env_spec(axis)
    sharding = NamedSharding(mesh, spec) if isinstance(mesh, Mesh) else spec

    def constrain(leaf: jax.Array) -> jax.Array:
        check_divisible(leaf.shape[axis], mesh, what)
        return jax.lax.with_sharding_constraint(leaf, sharding)

    return jax.tree.map(constrain, tree)


def put_envs(tree: Any, mesh: Mesh | None, axis: int = 0) -> Any:
    """Outside ``jit``: ``tree``'s leaves placed on ``mesh``, split on ``axis``."""
    if mesh is None:
        return tree
    return jax.device_put(tree, env_sharding(mesh, axis))


def put_replicated(tree: Any, mesh: Mesh | None) -> Any:
    """Outside ``jit``: ``tree`` copied whole to every device of ``mesh``."""
    if mesh is None:
        return tree
    return jax.device_put(tree, replicated(mesh))


#: The environment variables :func:`initialize_distributed` reads.
COORDINATOR, NUM_PROCESSES, PROCESS_ID = (
    "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID",
)


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Start ``jax.distributed`` for several hosts; returns whether it did.

    Arguments default to ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process
    0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``. With none of them set it
    does nothing (one host) unless a cluster JAX detects itself (SLURM, Cloud
    TPU) is asked for with ``coordinator_address="auto"``. Call it before
    anything else touches JAX's devices.
    """
    address = coordinator_address or os.environ.get(COORDINATOR)
    count = num_processes if num_processes is not None else _int_env(NUM_PROCESSES)
    index = process_id if process_id is not None else _int_env(PROCESS_ID)
    if address is None and count is None and index is None:
        return False
    if address == "auto":
        jax.distributed.initialize()
        return True
    missing = [name for name, value in ((COORDINATOR, address), (NUM_PROCESSES, count),
                                        (PROCESS_ID, index)) if value is None]
    if missing:
        raise ValueError(
            f"several hosts need a coordinator address, a process count and a process id; "
            f"missing {', '.join(missing)}."
        )
    if not 0 <= index < count:
        raise ValueError(f"{PROCESS_ID} must be in [0, {count}), got {index}.")
    jax.distributed.initialize(address, num_processes=count, process_id=index)
    return True


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}.") from None


def host_copy(tree: Any) -> Any:
    """``tree`` as this process can read it whole: arrays spread over several
    hosts are gathered from all of them (a collective: every process must call
    it), typed PRNG keys go as their key data and come back as keys."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    def gather(leaf: Any) -> Any:
        if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
            return leaf
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = multihost_utils.process_allgather(jax.random.key_data(leaf), tiled=True)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        return multihost_utils.process_allgather(leaf, tiled=True)

    return jax.tree.map(gather, tree)


def is_lead_process() -> bool:
    """Whether this process writes the files of a run spread over several hosts."""
    return jax.process_index() == 0


def process_seed(seed: int, stride: int = 1_000_003) -> int:
    """``seed`` offset for this process, so host-side loops on several hosts
    draw different episodes (process 0 keeps any ``seed`` below 2**32)."""
    return (seed + stride * jax.process_index()) % 2**32
