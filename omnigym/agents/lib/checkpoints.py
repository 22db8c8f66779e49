"""Checkpoints: a folder with ``config.json`` (learner name and config) and ``state.npz``.

``state.npz`` holds the leaves of the whole run state (:class:`RunState`),
PRNG keys as their raw key data. Loading needs the state's structure, which
comes from the learner itself: ``train(key, num_updates=0)`` traced with
``jax.eval_shape``, so nothing about the structure is stored or guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from omnigym.agents.lib.config import from_dict, to_dict


class Checkpoint(NamedTuple):
    learner: str
    config: Any
    state: Any


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def save_checkpoint(directory: str | Path, learner: str, config: Any, state: Any) -> Path:
    """Write ``config`` and the run ``state`` of ``learner`` to ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps({"learner": learner, "config": to_dict(config)}, indent=2)
    )
    leaves = jax.tree.leaves(jax.device_get(state))
    arrays = {
        f"leaf_{i}": np.asarray(jax.random.key_data(x) if _is_key(x) else x)
        for i, x in enumerate(leaves)
    }
    np.savez(directory / "state.npz", **arrays)
    return directory


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """The learner name, config and run state saved in ``directory``."""
    from omnigym import agents

    directory = Path(directory)
    if not (directory / "config.json").exists():
        raise FileNotFoundError(f"{directory} holds no checkpoint (config.json is missing).")
    saved = json.loads((directory / "config.json").read_text())
    name = saved["learner"]
    config = from_dict(agents.config_class(name), saved["config"])
    template = state_structure(agents.learner_module(name), config)
    leaves, treedef = jax.tree.flatten(template)
    with np.load(directory / "state.npz") as data:
        stored = [data[f"leaf_{i}"] for i in range(len(data.files))]
    if len(stored) != len(leaves):
        raise ValueError(
            f"{directory}: the checkpoint holds {len(stored)} arrays but {name} with this "
            f"config has {len(leaves)}; was it written by another version?"
        )
    restored = [
        jax.random.wrap_key_data(value) if _is_key(like) else np.asarray(value, like.dtype)
        for like, value in zip(leaves, stored)
    ]
    return Checkpoint(name, config, jax.tree.unflatten(treedef, restored))


def state_structure(module: Any, config: Any) -> Any:
    """The shapes and dtypes of ``module``'s run state under ``config``, without running it."""
    train = module.make_train(config)
    if not getattr(module, "JITTABLE", True):
        return jax.tree.map(jnp.asarray, train(jax.random.key(0), num_updates=0)[0])
    return jax.eval_shape(lambda key: train(key, num_updates=0)[0], jax.random.key(0))
