"""Chapter 3b's exercise checks, on run files in W&B's record-log format."""

import json
import struct
import zlib

import pytest
from wandb.proto import wandb_internal_pb2

from mlops_course import data, modeling, serialization
from mlops_course.exercises import ch03b


def write_run(path, config, metrics):
    """A run file as W&B writes one: a header, then CRC-checked full records."""
    run = wandb_internal_pb2.Record()
    for key, value in config.items():
        item = run.run.config.update.add()
        item.key, item.value_json = key, json.dumps(value)
    history = wandb_internal_pb2.Record()
    for key, value in metrics.items():
        item = history.history.item.add()
        item.key, item.value_json = key, json.dumps(value)
    raw = b":W&B" + b"\xbe\xef\x00"
    for record in (run, history):
        body = record.SerializeToString()
        raw += struct.pack("<IHB", zlib.crc32(bytes([1]) + body), len(body), 1) + body
    path.write_bytes(raw)
    return path


def read(path):
    """The chapter's reader, for records that fit in the first block."""
    raw, pos = path.read_bytes(), 7
    if raw[:4] != b":W&B":
        raise ValueError(f"{path.name} is not a W&B run file")
    while pos + 7 <= len(raw):
        crc, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        body = raw[pos + 7 : pos + 7 + length]
        if zlib.crc32(bytes([kind]) + body) != crc:
            raise ValueError(f"corrupt record at byte {pos}")
        pos += 7 + length
        record = wandb_internal_pb2.Record()
        record.ParseFromString(body)
        yield record


@pytest.fixture(scope="module")
def periods():
    split = data.time_split(data.generate_applications(1_500, seed=1))
    X_train, y_train = modeling.features_and_target(split.train)
    X_valid, y_valid = modeling.features_and_target(split.valid)
    return {
        "X_train": X_train,
        "y_train": y_train,
        "X_valid": X_valid,
        "y_valid": y_valid,
    }


def auc_for(C, p):
    model = modeling.make_model("logreg", C=C).fit(
        serialization.as_model_input(p["X_train"]), p["y_train"]
    )
    proba = model.predict_proba(serialization.as_model_input(p["X_valid"]))[:, 1]
    return modeling.score(p["y_valid"], proba)["roc_auc"]


def test_second_run_accepts_the_c1_run_and_its_auc(tmp_path, periods):
    auc = auc_for(1.0, periods)
    write_run(tmp_path / "run-x.wandb", {"model.C": 1.0}, {"valid_roc_auc": auc})
    fb = ch03b.second_run(tmp_path, auc, read=read, **periods)
    assert fb.ok is True, fb.message
    fb = ch03b.second_run(tmp_path, round(auc, 4), read=read, **periods)
    assert fb.ok is False
    assert "read the last history record" in fb.message


def test_second_run_refuses_the_first_runs_folder(tmp_path, periods):
    auc = auc_for(0.01, periods)
    write_run(tmp_path / "run-y.wandb", {"model.C": 0.01}, {"valid_roc_auc": auc})
    fb = ch03b.second_run(tmp_path, auc, read=read, **periods)
    assert fb.message == (
        "this run's config has model.C = 0.01: log the second run with C = 1 in "
        "its config"
    )


def test_second_run_refuses_a_metric_from_another_model(tmp_path, periods):
    auc = auc_for(0.01, periods)
    write_run(tmp_path / "run-z.wandb", {"model.C": 1.0}, {"valid_roc_auc": auc})
    fb = ch03b.second_run(tmp_path, auc, read=read, **periods)
    assert fb.ok is False
    assert "but the model with C = 1 scores" in fb.message


@pytest.fixture
def original(tmp_path):
    return write_run(tmp_path / "run-a.wandb", {"model.C": 1.0}, {"valid_auc": 0.7})


def test_damaged_copy_accepts_one_flipped_byte(tmp_path, original):
    raw = bytearray(original.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.wandb"
    damaged.write_bytes(bytes(raw))
    fb = ch03b.damaged_copy(damaged, read=read, original=original)
    assert fb.ok is True, fb.message


def test_damaged_copy_refuses_an_intact_or_cut_copy(tmp_path, original):
    same = tmp_path / "same.wandb"
    same.write_bytes(original.read_bytes())
    fb = ch03b.damaged_copy(same, read=read, original=original)
    assert fb.message == (
        "your copy is identical to the run file: change one byte of it"
    )
    cut = tmp_path / "cut.wandb"
    cut.write_bytes(original.read_bytes()[:-3])
    fb = ch03b.damaged_copy(cut, read=read, original=original)
    assert fb.ok is False
    assert "change one byte, do not add or cut any" in fb.message
