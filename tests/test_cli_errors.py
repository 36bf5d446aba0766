"""The diagnostic CLIs on bad input: one ``error:`` line on stderr naming the argument or file, exit
status 1 (argparse's 2 for a usage error), no traceback, nothing run before the input is checked."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import DriftSimulator


def _one_error(capsys) -> str:
    """The single stderr line of a failed call (stdout empty), without its ``error: `` prefix."""
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("error: "), (out, err)
    return lines[0][len("error: "):]


@pytest.fixture
def run(tmp_path):
    """A run's outdir as far as the CLIs read it: mountaincar's agents, 8-step test rollouts with the
    record that wrote them (warmup 3 + horizon 5) and a ``random/persim/model.pt`` (not a model)."""
    from persim.evaluation.prediction import TestRollouts, save_test_rollouts

    env = tmp_path / "run" / "mountaincar"
    (env / "random" / "persim").mkdir(parents=True)
    pd.DataFrame({"agent_id": [0, 1, 2], "test_agent": [1, 2, 0]}).to_parquet(env / "agents.parquet")
    ro = {aid: TestRollouts(np.zeros((2, 9, 2), np.float32), np.zeros((2, 8), np.int64), np.zeros((2, 8), bool))
          for aid in (0, 1)}
    save_test_rollouts(env / "test_rollouts.npz", ro)
    settings = {"env": "mountaincar", "n_rollouts": 2, "warmup": 3, "horizon": 5, "feedback": "members", "seed": 1}
    (env / "test_rollouts.json").write_text(json.dumps({"rule": "test_rollouts", "settings": settings}))
    (env / "random" / "persim" / "model.pt").write_bytes(b"not a model")
    return tmp_path / "run"


# persim.planner_check

@pytest.mark.parametrize("argv, what", [
    (["--variants", "authors,bogus"], "argument --variants: unknown variant(s) ['bogus']; choose from ['authors'"),
    (["--candidates", "0"], "argument --candidates: must be a positive integer, got 0"),
    (["--episodes", "0"], "argument --episodes: must be a positive integer, got 0"),
    (["--horizon", "-1"], "argument --horizon: must be a positive integer, got -1"),
    (["--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
])
def test_planner_check_rejects_bad_settings_before_planning(argv, what, capsys, monkeypatch):
    import persim.planner_check as pc

    monkeypatch.setattr(pc, "agent_means", lambda *a: pytest.fail("planned before the input was checked"))
    with pytest.raises(SystemExit) as exit_:
        pc.main(["cartpole", *argv])
    assert exit_.value.code == 2 and what in capsys.readouterr().err


# persim.prediction_check

@pytest.mark.parametrize("args, what", [
    (["{run}/nope", "mountaincar", "random"], "no run at {run}/nope"),
    (["{run}", "cartpole", "random"], "env 'cartpole' not in the run at {run}: has ['mountaincar']"),
    (["{run}", "mountaincar", "pure"], "dataset 'pure' not trained for env mountaincar with persim"),
    (["{run}", "mountaincar", "random", "--warmup", "10"],
     "warmup 10 + horizon 5 = 15 steps, but the test rollouts of {run}/mountaincar/test_rollouts.npz hold 8"),
    (["{run}", "mountaincar", "random"], "{run}/mountaincar/random/persim/model.pt: not a persim model"),
])
def test_prediction_check_names_the_bad_argument_or_file(run, args, what, capsys):
    from persim.prediction_check import main

    assert main([a.format(run=run) for a in args]) == 1
    assert what.format(run=run) in _one_error(capsys)


def test_prediction_check_rejects_a_non_positive_horizon(run, capsys):
    from persim.prediction_check import main

    with pytest.raises(SystemExit) as exit_:
        main([str(run), "mountaincar", "random", "--horizon", "0"])
    assert exit_.value.code == 2 and "argument --horizon: must be a positive integer, got 0" in capsys.readouterr().err


def test_prediction_check_defaults_to_the_runs_own_prediction_settings(run, capsys, monkeypatch):
    """The window the run scored with (10 + 50 would not fit its 8-step rollouts): that of its
    prediction.csv's record, else its test rollouts' record; an option given overrides it."""
    import persim.prediction_check as pc

    monkeypatch.setattr(pc, "load_simulator", lambda method, path: DriftSimulator())
    assert pc.main([str(run), "mountaincar", "random"]) == 0
    assert "(raw units; warmup 3, horizon 5, feedback members)" in capsys.readouterr().out
    record = {"rule": "eval_prediction", "settings": {"warmup": 2, "horizon": 4, "feedback": "mean"}}
    (run / "mountaincar/random/persim/prediction.csv.meta.json").write_text(json.dumps(record))
    assert pc.main([str(run), "mountaincar", "random", "--horizon", "6"]) == 0
    assert "(raw units; warmup 2, horizon 6, feedback mean)" in capsys.readouterr().out


# persim.reporting.diff

def _comparison(path):
    """A two-cell comparison.csv of Tables 6 and 9 at ``path``."""
    pd.DataFrame({"table": [6, 9], "env": "mountaincar", "dataset": "random", "method": "PerSim", "agent": 1,
                  "metric": ["rmse", "reward"], "ours": [0.1, -100.0], "paper": [0.1, -100.0],
                  "verdict": "reproduced", "n_train_agents": 500}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name, content, what", [
    ("agents.parquet", None, "not a text file"),
    ("empty.csv", b"", "the file is empty"),
])
def test_run_diff_names_an_input_that_is_no_comparison(tmp_path, capsys, name, content, what):
    from persim.reporting import diff

    bad = tmp_path / name
    if content is None:
        pd.DataFrame({"agent_id": [0]}).to_parquet(bad)
    else:
        bad.write_bytes(content)
    assert diff.main([str(bad), str(_comparison(tmp_path / "comparison.csv"))]) == 1
    msg = _one_error(capsys)
    assert msg.startswith(f"{bad}: {what}") and "expected a run's comparison.csv" in msg


def test_run_diff_names_focus_tables_and_methods_neither_run_has(tmp_path, capsys):
    from persim.reporting import diff

    cells = str(_comparison(tmp_path / "comparison.csv"))
    assert diff.main([cells, cells, "--tables", "99", "6", "x"]) == 1
    assert _one_error(capsys) == "--tables ['99', 'x']: in neither comparison; they have ['6', '9']"
    assert diff.main([cells, cells, "--methods", "bogus", "persim"]) == 1
    assert _one_error(capsys) == "--methods ['bogus']: in neither comparison; they have ['PerSim']"
    assert diff.main([cells, cells, "--tables", "9", "--methods", "persim"]) == 0
    assert "reproduced or better 1 / 1 -> 1 / 1 compared" in capsys.readouterr().out


# persim.retrain_check

@pytest.mark.parametrize("args, what", [
    (["{run}/nope", "mountaincar", "random"], "no run at {run}/nope"),
    (["{run}", "x", "random"], "env 'x' not in the run at {run}: has ['mountaincar']"),
    (["{run}", "mountaincar", "y"], "dataset 'y' not trained for env mountaincar with persim "
                                    "(no {run}/mountaincar/y/persim/model.pt): has ['random']"),
    (["{run}", "mountaincar", "random"], "{run}/mountaincar/random/persim/model.pt: no sidecar, and no readable"),
])
def test_retrain_check_names_the_bad_argument_on_stderr(run, args, what, capsys):
    from persim.retrain_check import main

    assert main([a.format(run=run) for a in args]) == 1
    assert what.format(run=run) in _one_error(capsys)


# persim.verify

def test_verify_on_a_folder_that_is_no_run_is_an_error(tmp_path, capsys):
    from persim.verify import main

    (tmp_path / "notes.txt").write_text("no run here")
    assert main([str(tmp_path)]) == 1
    assert _one_error(capsys).startswith(f"{tmp_path}: no provenance files found under it")
    assert main([str(tmp_path / "nope")]) == 1
    assert _one_error(capsys).startswith(f"{tmp_path / 'nope'}: not a directory")
