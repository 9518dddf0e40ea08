"""Distribution: which `tf.distribute` strategy runs `model.fit`, and which worker writes files.

Multi-worker training reads the standard `TF_CONFIG` environment variable, so any launcher
that sets it (Kubernetes, Vertex AI, a shell script) runs the same command on every machine.
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from tfbert.config import STRATEGIES

log = logging.getLogger(__name__)



def build_strategy(name: str) -> tf.distribute.Strategy:
    """Creates the strategy; `auto` mirrors over several GPUs and otherwise uses one device.

    Must run before any other TensorFlow work in the process (multi-worker needs its
    collectives set up first).
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one-device"
    if name == "one-device":
        # The default strategy: TensorFlow places work on the first GPU if there is one.
        # (OneDeviceStrategy would do the same, but Keras' BackupAndRestore refuses it.)
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = None
        if not gpus:  # mirror over the logical CPUs the process configured, if several
            cpus = tf.config.list_logical_devices("CPU")
            devices = [d.name for d in cpus] if len(cpus) > 1 else None
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi-worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one worker that writes the run folder (always true on a single machine)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and task.get("index", 0) == 0


def describe(strategy: tf.distribute.Strategy, per_replica_batch: int) -> str:
    replicas = strategy.num_replicas_in_sync
    return (f"{type(strategy).__name__} with {replicas} replica(s): batch {per_replica_batch} "
            f"per replica, global batch {per_replica_batch * replicas}")
