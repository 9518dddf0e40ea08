"""Config validation and the saved-config round trip."""

import pytest

from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig


@pytest.mark.parametrize("make", [
    lambda: DataConfig(sources=()),
    lambda: DataConfig(max_length=4),
    lambda: DataConfig(val_size=1.5),
    lambda: DataConfig(val_size=0),
    lambda: DataConfig(train_size=0),
    lambda: DataConfig(label_names=("a",)),
    lambda: DataConfig(label_names=("a", "a")),
    lambda: DataConfig(truncation="middle"),
    lambda: DataConfig(head_tokens=10),  # only with head+tail
    lambda: DataConfig(truncation="head+tail", head_tokens=0),
    lambda: DataConfig(truncation="head+tail", max_length=64, head_tokens=61),
    lambda: ModelConfig(precision="float8"),
    lambda: TrainConfig(epochs=0),
    lambda: TrainConfig(learning_rate=0.0),
    lambda: TrainConfig(warmup_ratio=1.0),
    lambda: TrainConfig(monitor="val_auc"),
    lambda: OutputConfig(run_name="a/b"),
])
def test_invalid_values_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_configs_are_frozen():
    cfg = TrainConfig()
    with pytest.raises(AttributeError):
        cfg.epochs = 5  # type: ignore[misc]


def test_round_trip_through_json(tmp_path):
    cfg = RunConfig(data=DataConfig(sources=("train=a.csv", "test=b.csv"),
                                    label_names=("neg", "pos"), val_size=200),
                    train=TrainConfig(epochs=2, monitor="val_loss"))
    cfg.save(tmp_path / "run_config.json")
    assert RunConfig.load(tmp_path / "run_config.json") == cfg
    assert cfg.train.monitor_mode == "min"


def test_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="unknown train config keys"):
        RunConfig.from_dict({"train": {"epochz": 3}})


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    import os

    from tfbert.base.files import write_json_atomic

    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"accuracy": 0.5})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_json_atomic(target, {"accuracy": 0.9})
    assert target.read_text().strip().endswith("}") and '"accuracy": 0.5' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
