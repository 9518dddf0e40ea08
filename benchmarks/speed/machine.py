"""The machine a benchmark ran on: CPU, memory, load, package versions and TensorFlow's matmul peak."""

from __future__ import annotations

import os
import platform
import subprocess
import time

from benchmarks.speed.timing import best_matmul_flops

BUSY_WARNING = 0.25  # cores; above this another process was computing


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def describe_machine() -> dict:
    """CPU model, cores, the flags that decide bfloat16 speed, memory, load and package versions."""
    info = _lscpu()
    flags = set(info.get("Flags", "").split())
    cores = None
    if info.get("Core(s) per socket", "").isdigit() and info.get("Socket(s)", "").isdigit():
        cores = int(info["Core(s) per socket"]) * int(info["Socket(s)"])
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            memory_gb = round(int(handle.readline().split()[1]) / 2 ** 20, 1)
    except (OSError, ValueError, IndexError):
        pass
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "tf_keras", "transformers", "tokenizers", "datasets", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except (ImportError, AttributeError):
            versions[name] = None
    return {
        "cpu_model": info.get("Model name") or platform.processor() or "unknown",
        "physical_cores": cores,
        "logical_cpus": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "avx512f": "avx512f" in flags,
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        "versions": versions,
    }


def busy_cores(seconds: float = 0.5) -> float | None:
    """CPU cores kept busy by the whole machine over `seconds` (from /proc/stat), while we sleep.

    Other jobs skew every figure, PyTorch's most: its OpenMP threads spin at barriers, and a
    2-thread Trainer step ran ~10x slower here while another process held 1.5 of the 2 cores.
    """
    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="utf-8") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # all ticks, idle + iowait ticks

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    ticks = total1 - total0
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / ticks) if ticks else None


def measure_matmul_peak(dtype: str, size: int) -> float:
    """Best dense matmul FLOP/s of TensorFlow on this machine (`size` x `size` matrices of `dtype`)."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)
    return best_matmul_flops(lambda: tf.linalg.matmul(a, b), size, finish=lambda c: c.numpy())


def measure_int8_peak(size: int) -> float:
    """Best int8 matmul OP/s of TensorFlow here: `QuantizedMatMulWithBiasAndDequantize`, which
    oneDNN runs on VNNI or AMX-INT8 (uint8 activations times int8 weights, float32 out)."""
    import tensorflow as tf

    a = tf.cast(tf.random.uniform([size, size], 0, 255, dtype=tf.int32), tf.quint8)
    b = tf.cast(tf.random.uniform([size, size], -127, 127, dtype=tf.int32), tf.qint8)
    bias = tf.zeros([size])

    @tf.function
    def matmul():
        return tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
            a=a, b=b, bias=bias, min_a=0.0, max_a=1.0, min_b=-1.0, max_b=1.0,
            min_freezed_output=-1.0, max_freezed_output=1.0, Toutput=tf.float32)

    return best_matmul_flops(matmul, size, finish=lambda c: c.numpy())
