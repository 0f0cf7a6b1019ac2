"""Ray Train on CPUs: a worker killed mid-run, the job resumed (chapter 19).

Ray probes 8.8.8.8 at start: run these tests inside tools/offline (make test does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import psutil
import pytest
import torch

from mlops_course import ray_train, torch_model

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    os.environ.update(ray_train.RAY_ENV)
    folder = tmp_path_factory.mktemp("ray")
    tensors = torch_model.make_tensors(1_500, 7)
    data = folder / "tensors.pt"
    parts = (tensors.x_train, tensors.y_train, tensors.x_valid, tensors.y_valid)
    torch.save(parts, data)
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 2**20,
        _node_ip_address="127.0.0.1",
        logging_level="error",
    )
    try:
        yield folder, data
    finally:
        ray.shutdown()
    assert ray_train.ray_processes(psutil.Process()) == []


def fit(folder, data, name: str, crash_at: int):
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    config = {"data": str(data), "seed": 7, "lr": 3e-3, "batch_size": 128}
    config |= {"epochs": 4, "crash_at": crash_at, "marker": str(folder / name)}
    trainer = TorchTrainer(
        ray_train.train_loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=2),
        run_config=RunConfig(
            name=name,
            storage_path=str(folder / "results"),
            failure_config=FailureConfig(max_failures=1),
        ),
    )
    return trainer.fit()


@pytest.mark.slow
def test_a_killed_worker_resumes_from_the_checkpoint_and_ends_the_same(local_ray):
    folder, data = local_ray
    clean = fit(folder, data, "clean", crash_at=-1)
    killed = fit(folder, data, "killed", crash_at=1)
    assert (folder / "killed").exists()  # the drill did kill a worker
    assert clean.error is None and killed.error is None
    assert killed.metrics["epoch"] == clean.metrics["epoch"] == 3
    assert np.isclose(killed.metrics["val_loss"], clean.metrics["val_loss"], atol=1e-6)
    assert str(folder / "results") in killed.checkpoint.path
    # Seeds and shuffles are fixed, so a group restarted at epoch 0 would end with
    # the same numbers: the reports must show that it resumed after the crash
    # epoch's checkpoint (every checkpoint is kept, so a repeated epoch would show).
    assert clean.metrics_dataframe["start_epoch"].tolist() == [0, 0, 0, 0]
    assert killed.metrics_dataframe["epoch"].tolist() == [0, 1, 2, 3]  # none twice
    assert killed.metrics_dataframe["start_epoch"].tolist() == [0, 0, 2, 2]


@pytest.mark.slow
def test_without_failures_allowed_the_kill_fails_the_job(local_ray):
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    folder, data = local_ray
    config = {"data": str(data), "seed": 7, "lr": 3e-3, "batch_size": 128}
    config |= {"epochs": 3, "crash_at": 0, "marker": str(folder / "once")}
    trainer = TorchTrainer(
        ray_train.train_loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=2),
        run_config=RunConfig(name="no-retry", storage_path=str(folder / "results")),
    )
    with pytest.raises(Exception):  # noqa: B017 - Ray's error type is internal
        trainer.fit()


def test_ray_processes_names_ray_children_and_nothing_else():
    code = "import time; time.sleep(60)"
    before = Counter(ray_train.ray_processes())  # Ray may be up in this module
    plain = subprocess.Popen([sys.executable, "-c", code])
    titled = subprocess.Popen([sys.executable, "-c", code, "ray::IDLE"])
    try:
        added = Counter(ray_train.ray_processes()) - before
        assert added == Counter([psutil.Process(titled.pid).name()])  # not `plain`
        assert ray_train.ray_processes(psutil.Process(plain.pid)) == []  # no children
    finally:
        for child in (plain, titled):
            child.kill()
            child.wait()


def test_driver_output_waits_for_a_late_notice_and_keeps_it_out_of_stdout(
    tmp_path, capsys
):
    log = tmp_path / "driver.log"
    notice = (
        "\x1b[33m(raylet)\x1b[0m A worker died or was killed while executing a task "
        "by an unexpected system error. To troubleshoot the problem, check the logs "
        "for the dead worker. Lease ID: 0c00000070c0 Worker ID: b7f362b7"
    )
    late = threading.Timer(0.5, lambda: print(notice))  # a background thread, later
    with ray_train.driver_output_to(log, until="A worker died", timeout=30):
        late.start()
        print("inside the block")
    late.join()
    print("after the block")
    assert capsys.readouterr().out == "after the block\n"
    assert "inside the block" in log.read_text()
    assert ray_train.raylet_notices(log) == [
        "A worker died or was killed while executing a task by an unexpected "
        "system error."
    ]


def test_driver_output_gives_up_after_the_timeout(tmp_path):
    log = tmp_path / "driver.log"
    start = time.monotonic()
    with ray_train.driver_output_to(log, until="never printed", timeout=0.3):
        print("something else")
    assert 0.3 <= time.monotonic() - start < 10
    assert ray_train.raylet_notices(log) == []


def test_native_stderr_goes_to_the_file_and_comes_back(tmp_path):
    before = os.fstat(2).st_ino
    log = tmp_path / "native.log"
    with ray_train.native_stderr_to(log):
        os.write(2, b"from native code\n")
    assert log.read_text() == "from native code\n"
    assert os.fstat(2).st_ino == before  # fd 2 is the process's stderr again
