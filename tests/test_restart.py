"""A run killed in the middle of training and restarted ends with the same result as an uninterrupted one."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import copy_workflow, snakemake

TARGET = "results/smoke/cartpole/random/persim/model.pt"
LOG = "results/smoke/logs/cartpole/random/persim/train.log"


def _workflow(root: Path) -> tuple[Path, list[str]]:
    wf = copy_workflow(root)
    (wf / "long.yaml").write_text(yaml.safe_dump({"persim": {"epochs": 1500, "lr_halve_every": 500}}))
    return wf, ["--cores", "1", "--configfile", "config/smoke.yaml", "long.yaml"]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.slow
def test_killed_training_restarts_to_identical_result(tmp_path):
    ref, args = _workflow(tmp_path / "ref")
    res = snakemake(ref, TARGET, *args)  # targets before --configfile (it takes several files)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]

    wf, _ = _workflow(tmp_path / "killed")
    exe = Path(sys.executable).parent / "snakemake"
    proc = subprocess.Popen([str(exe), TARGET, *args], cwd=wf, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    log = wf / LOG
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and "ETA" in log.read_text():  # training is under way
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # like a node failure: no cleanup at all
    proc.wait()
    assert not (wf / TARGET).exists()

    # what a user does after a power loss: release the stale lock, then rerun the incomplete job
    assert snakemake(wf, TARGET, "--unlock", *args).returncode == 0
    res = snakemake(wf, TARGET, "--rerun-incomplete", *args)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    got, want = _weights(wf / TARGET), _weights(ref / TARGET)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
