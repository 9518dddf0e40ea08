"""Clocks shared by every worker: step ends, cold and warm passes, matmul peaks, peak memory."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

# The PyTorch worker imports this module: it must not import TensorFlow or tfbert.

PEAK_REPEATS, PEAK_TRIALS = 5, 3


class StepTimer:
    """Clock time when training begins and at the end of every optimizer step.

    A mixin for a Keras callback or a transformers `TrainerCallback` (`make_step_timer`). Keras
    calls `on_train_batch_end` after turning the step's logs into NumPy (no `_supports_tf_logs`),
    so each stamp follows a finished step (input, forward, backward, update); the Trainer calls
    `on_step_end` after the optimizer step, and loads the next batch after that.
    """

    def __init__(self) -> None:
        super().__init__()
        self.start: float | None = None
        self.ends: list[float] = []

    def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self.ends.append(time.perf_counter())

    on_step_end = on_train_batch_end  # the Trainer's name for the same moment


def make_step_timer(callback_base: type) -> StepTimer:
    """A StepTimer that is also a `callback_base`: `keras.callbacks.Callback` or `TrainerCallback`."""
    return type("StepTimer", (StepTimer, callback_base), {})()


def time_passes(predict: Callable[[], Any]) -> dict:
    """Times a cold pass (tracing, first allocations) and then a warm one."""
    start = time.perf_counter()
    predict()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    predict()
    return {"cold_seconds": cold, "seconds": time.perf_counter() - start}


def best_matmul_flops(matmul: Callable[[], Any], size: int, finish: Callable[[Any], Any] = lambda r: r,
                      repeats: int = PEAK_REPEATS, trials: int = PEAK_TRIALS) -> float:
    """Best FLOP/s of `matmul()`, a product of two `size` x `size` matrices, over `trials` trials.

    Args:
        matmul: multiplies the same two matrices on every call.
        size: their size.
        finish: waits for a result (TensorFlow: `.numpy()`), once per trial of `repeats` calls.
    """
    finish(matmul())  # first call: kernel selection and allocation
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            result = matmul()
        finish(result)
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * size ** 3 / best


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
