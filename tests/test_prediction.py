"""The prediction evaluation scores each rollout up to its first termination (authors' protocol)."""
import numpy as np
import pytest
import torch

from conftest import DriftSimulator
from persim.evaluation.prediction import TestRollouts as Rollouts
from persim.evaluation.prediction import (collect_rollouts, evaluate_prediction, load_test_rollouts, rmse_r2,
                                         rollout_spread, save_test_rollouts)


def test_collect_rollouts_records_where_the_pole_fell():
    push_right = lambda obs: np.ones(len(obs), dtype=np.int64)  # noqa: E731  (the pole falls within ~10-40 steps)
    ro = collect_rollouts("cartpole", {"force": 10.0, "length": 0.5}, push_right, 4, 60, seed=0)
    assert ro.terminated.shape == (4, 60) and ro.terminated.any(1).all()
    first = ro.terminated.argmax(1)
    valid = ro.valid_steps()
    for r in range(4):
        # valid up to and including the terminating step, not after
        assert valid[r, :first[r] + 1].all() and not valid[r, first[r] + 1:].any()
        theta_or_x_out = (np.abs(ro.states[r, 1:, 2]) > 0.2095) | (np.abs(ro.states[r, 1:, 0]) > 2.4)
        assert theta_or_x_out[first[r]] and not theta_or_x_out[:first[r]].any()


def test_test_rollouts_round_trip_in_the_agents_order_and_a_missing_agent_is_named(tmp_path):
    import pandas as pd
    rng = np.random.default_rng(0)
    made = {aid: Rollouts(rng.normal(size=(2, 4, 3)), rng.integers(0, 2, size=(2, 3)), rng.random((2, 3)) < 0.3)
            for aid in (7, 3)}
    save_test_rollouts(tmp_path / "r.npz", made)
    agents = pd.DataFrame({"agent_id": [1, 3, 7], "test_agent": [0, 2, 1]})  # agent 1 trains: not read
    got = load_test_rollouts(tmp_path / "r.npz", agents)
    assert [(t, a) for t, a, _ in got] == [(2, 3), (1, 7)]
    for _, aid, ro in got:
        for field in ("states", "actions", "terminated"):
            np.testing.assert_array_equal(getattr(ro, field), getattr(made[aid], field))
    agents.loc[0, "test_agent"] = 3
    with pytest.raises(ValueError, match="agent_id 1 .test agent 3."):
        load_test_rollouts(tmp_path / "r.npz", agents)


def test_rmse_r2_ignores_steps_past_termination():
    true = np.zeros((2, 4, 1))
    true[:, :, 0] = [0.0, 1.0, 2.0, 3.0]
    pred = true.copy()
    pred[:, 1, 0] += 0.5          # one error of 0.5 within the valid steps of both rollouts
    pred[1, 3, 0] += 1e3          # a huge one past rollout 1's termination
    valid = np.array([[True] * 4, [True, True, True, False]])
    rmse, r2 = rmse_r2(pred, true, valid)
    np.testing.assert_allclose(rmse, [np.sqrt(0.25 / 4), np.sqrt(0.25 / 3)])
    np.testing.assert_allclose(r2, [1 - 0.25 / 5.0, 1 - 0.25 / 2.0])  # ss_tot over each rollout's valid steps
    rmse, r2 = rmse_r2(pred, true, np.array([[True, False, False, False], [False] * 4]))
    assert rmse[0] == 0.0 and np.isnan(r2[0]) and np.isnan(rmse[1]) and np.isnan(r2[1])


def test_evaluate_prediction_cuts_and_drops_terminated_rollouts():
    r, length, warmup, horizon = 3, 8, 2, 6
    ro = Rollouts(np.zeros((r, length + 1, 1), np.float32), np.zeros((r, length), np.int64),
                      np.zeros((r, length), bool))
    ro.terminated[1, 4] = True   # cut: predicted steps 0..2 (env steps 2..4) count
    ro.terminated[2, 0] = True   # within the warm-up: dropped
    ro.states[1, 6:] = 1e6       # what the env shows past termination must not count
    res = evaluate_prediction(DriftSimulator(), 0, ro, warmup=warmup, horizon=horizon)
    # the prediction drifts by one per step: errors 1..k over the scored steps
    rmse0 = np.sqrt(np.mean(np.arange(1, 7) ** 2))
    rmse1 = np.sqrt(np.mean(np.arange(1, 4) ** 2))
    assert res["rmse"] == pytest.approx((rmse0 + rmse1) / 2)
    assert (res["n_rollouts"], res["n_cut"], res["n_dropped"]) == (2, 1, 1)
    # without termination flags every step of every rollout counts
    res_all = evaluate_prediction(DriftSimulator(), 0, Rollouts(ro.states, ro.actions), warmup, horizon)
    assert res_all["n_rollouts"] == 3 and res_all["rmse"] > 1e5
    # every rollout ended within the warm-up: nothing to score, NaN rather than an error
    ro.terminated[:, 0] = True
    res_none = evaluate_prediction(DriftSimulator(), 0, ro, warmup, horizon)
    assert np.isnan(res_none["rmse"]) and np.isnan(res_none["r2_median"]) and res_none["n_dropped"] == 3


def test_terminated_of_the_wrong_shape_is_rejected():
    ro = Rollouts(np.zeros((2, 5, 1)), np.zeros((2, 4)), np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="terminated has shape"):
        ro.valid_steps()


def test_member_feedback_averages_each_members_own_rollout():
    """The authors' protocol: each member rolls on its own predictions, then the M trajectories are
    averaged; feeding back the ensemble mean differs once the members disagree."""
    from persim.evaluation.prediction import TestRollouts, predict_open_loop
    from persim.models.persim import PerSimConfig, PerSimNet, PerSimSimulator

    torch.manual_seed(0)
    cfg = PerSimConfig(rank=2, n_members=3, state_hidden=[8])
    sim = PerSimSimulator(PerSimNet(4, 2, 3, 0, cfg), cfg, {"n_agents": 4})
    rng = np.random.default_rng(0)
    ro = TestRollouts(rng.normal(size=(6, 9, 2)).astype(np.float32), rng.integers(3, size=(6, 8)))
    members = predict_open_loop(sim, 1, ro, warmup=2, horizon=5, feedback="members")
    mean = predict_open_loop(sim, 1, ro, warmup=2, horizon=5, feedback="mean")
    manual = []
    for k in range(3):  # member k alone on its own predictions
        s = torch.as_tensor(ro.states[:, 2])
        traj = []
        for t in range(5):
            s = sim.member_predictions(torch.ones(6, dtype=torch.int64), s, torch.as_tensor(ro.actions[:, 2 + t]))[k]
            traj.append(s)
        manual.append(torch.stack(traj, 1))
    np.testing.assert_allclose(members, torch.stack(manual).mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(members[:, 0], mean[:, 0], atol=1e-5)  # one step ahead both are the mean
    assert np.abs(members[:, -1] - mean[:, -1]).max() > 1e-4
    with pytest.raises(ValueError, match="feedback"):
        predict_open_loop(sim, 1, ro, 2, 5, feedback="median")


def test_coordinate_errors_split_compounding_from_one_step_error():
    """A model that drifts by +1 per step (truth: the state stays put) is off by 1 one step ahead on every
    coordinate, by k after k open-loop steps; steps past a termination do not count."""
    from persim.evaluation.prediction import coordinate_errors

    r, length, warmup, horizon = 2, 7, 1, 5
    ro = Rollouts(np.zeros((r, length + 1, 2), np.float32), np.zeros((r, length), np.int64), np.zeros((r, length), bool))
    ro.terminated[1, 3] = True  # rollout 1 scores predicted steps 1..3 only
    ro.states[1, 5:] = 1e6
    err = coordinate_errors(DriftSimulator(), 0, ro, warmup=warmup, horizon=horizon)
    sq = np.concatenate([np.arange(1, 6) ** 2, np.arange(1, 4) ** 2])
    np.testing.assert_allclose(err["open_loop"], [np.sqrt(sq.mean())] * 2, rtol=1e-6)
    np.testing.assert_allclose(err["one_step"], [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(err["state_std"], [0.0, 0.0], atol=1e-12)


class _RunAway(DriftSimulator):
    """Predicts s + 1.5 below s = 40 and 3 s above: a rollout that starts high runs away."""

    def predict(self, agents, states, actions, context=None):
        states = torch.as_tensor(states)
        return torch.where(states < 40, states + 1.5, states * 3.0)


def test_rollout_spread_tells_a_few_runaway_rollouts_from_a_poor_model():
    r, length, warmup, horizon = 4, 8, 2, 6
    ro = Rollouts(np.zeros((r, length + 1, 1), np.float32), np.zeros((r, length), np.int64),
                  np.zeros((r, length), bool))
    ro.states[:3, :, 0] = np.arange(length + 1)   # rollouts 0-2 move by 1 per step
    ro.states[3] = 50.0           # scored true states span [3, 50]: a prediction outside [-44, 97] ran away
    spread = rollout_spread(_RunAway(), 0, ro, warmup=warmup, horizon=horizon)
    drift = 0.5 * np.sqrt(np.mean(np.arange(1, 7) ** 2))     # rollouts 0-2: off by 0.5..3
    runaway = np.sqrt(np.mean((50.0 * 3.0 ** np.arange(1, 7) - 50.0) ** 2))
    assert spread["n_rollouts"] == 4 and spread["n_escaped"] == 1
    np.testing.assert_allclose(spread["rmse_median"], drift, rtol=1e-6)
    np.testing.assert_allclose(spread["rmse_max"], runaway, rtol=1e-5)
    np.testing.assert_allclose(spread["rmse"], (3 * drift + runaway) / 4, rtol=1e-5)
    assert spread["rmse"] == evaluate_prediction(_RunAway(), 0, ro, warmup=warmup, horizon=horizon)["rmse"]
    ro.terminated[3, 0] = True    # the runaway rollout ends in the warm-up; range [3, 8] -> [-2, 13]
    spread = rollout_spread(_RunAway(), 0, ro, warmup=warmup, horizon=horizon)
    assert spread["n_rollouts"] == 3 and spread["n_escaped"] == 0 and spread["rmse_max"] == pytest.approx(drift)
    ro.terminated[:, 0] = True    # nothing left to score
    spread = rollout_spread(_RunAway(), 0, ro, warmup=warmup, horizon=horizon)
    assert spread["n_rollouts"] == 0 and np.isnan(spread["rmse"])


@pytest.mark.slow
def test_prediction_check_runs_on_a_finished_run_for_every_simulator(smoke_run, capsys):
    from persim.methods import SIMULATOR_METHODS
    from persim.prediction_check import check_rows, main

    for method in SIMULATOR_METHODS:  # PerSim and both CaDMs (context from the warm-up)
        rows, spread = check_rows(smoke_run / "results/smoke", "cartpole", "random", method, 3, 5, "members")
        assert len(rows) == 5 * 4 and all(np.isfinite(r["open_loop"]) and r["one_step"] >= 0 for r in rows)
        assert [row["agent"] for row in spread] == [1, 2, 3, 4, 5]
        assert all(row["rmse_median"] <= row["rmse_max"] and 0 <= row["n_escaped"] <= row["n_rollouts"]
                   for row in spread)
    main([str(smoke_run / "results/smoke"), "mountaincar", "random", "--warmup", "3", "--horizon", "5"])
    out = capsys.readouterr().out
    assert "open_loop" in out and "n_escaped" in out
