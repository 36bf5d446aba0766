"""Context for CaDM-like simulators: windows of recent true transitions, and both evaluators using them."""
import numpy as np
import torch

from persim.evaluation.history import TransitionHistory, rollout_window
from persim.evaluation.prediction import TestRollouts as Rollouts, predict_open_loop
from persim.evaluation.reward import model_step_factory


def test_rollout_window_pads_and_masks_the_start():
    states = np.arange(2 * 6 * 1, dtype=np.float32).reshape(2, 6, 1)  # R=2, L=5
    actions = np.arange(10).reshape(2, 5)
    w = rollout_window(states, actions, end=2, k=4)
    assert w.mask.tolist() == [[False, False, True, True]] * 2
    assert w.obs[0, :, 0].tolist() == [0, 0, 0, 1] and w.next_obs[0, :, 0].tolist() == [0, 0, 1, 2]
    assert w.actions[1].tolist() == [0, 0, 5, 6]
    full = rollout_window(states, actions, end=5, k=4)
    assert full.mask.all() and full.obs[0, :, 0].tolist() == [1, 2, 3, 4]


def test_transition_history_keeps_the_last_k_per_episode():
    h = TransitionHistory(n_episodes=3, k=2, obs_dim=1, action_shape=(), discrete=True)
    for t in range(3):
        idx = np.array([0, 2]) if t < 2 else np.array([0])
        h.push(idx, np.full((len(idx), 1), t), np.full(len(idx), t), np.full((len(idx), 1), t + 1))
    w = h.window(np.array([0, 1, 2]))
    assert w.mask.tolist() == [[True, True], [False, False], [True, True]]
    assert w.obs[:, :, 0].tolist() == [[1, 2], [0, 0], [0, 1]]
    assert w.next_obs[0, :, 0].tolist() == [2, 3]


class _ContextSim:
    """A fake context simulator: next state = state + mean of the context's recorded deltas."""

    context_length, n_members, planning_members, device, meta = 3, 1, 2, torch.device("cpu"), {}

    def encode_context(self, obs, actions, next_obs, mask):
        d = (next_obs - obs) * mask.unsqueeze(-1)
        return d.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)

    def member_predictions(self, agents, states, actions, context=None):
        return (states + context)[None]

    def predict(self, agents, states, actions, context=None):
        return self.member_predictions(agents, states, actions, context)[0]

    def planning_step(self, agents, n_rows, context=None, generator=None):
        ctx = context.repeat_interleave(n_rows, dim=0)
        return lambda states, actions: states + ctx

    def save(self, path):
        raise NotImplementedError


def test_open_loop_prediction_feeds_the_warmup_context():
    steps = np.arange(12, dtype=np.float32)
    states = np.stack([steps * 0.5, steps * 2.0])[:, :, None]  # two rollouts, constant deltas 0.5 and 2
    ro = Rollouts(states, np.zeros((2, 11), dtype=np.int64))
    pred = predict_open_loop(_ContextSim(), 0, ro, warmup=4, horizon=5)
    np.testing.assert_allclose(pred[:, :, 0], states[:, 5:10, 0])  # exact only if the context is right


def test_model_step_factory_repeats_context_per_candidate():
    sim = _ContextSim()
    h = TransitionHistory(2, 3, 1, (), True)
    h.push(np.array([0, 1]), np.zeros((2, 1)), np.zeros(2, dtype=np.int64), np.array([[1.0], [5.0]]))
    step = model_step_factory(sim, agent_id=0, n_candidates=4)(np.array([0, 1]), h.window(np.array([0, 1])))
    out = step(torch.zeros(2, 8, 1), torch.zeros(8, dtype=torch.int64))
    assert out.shape == (2, 8, 1)
    assert out[0, :4, 0].tolist() == [1.0] * 4 and out[0, 4:, 0].tolist() == [5.0] * 4  # episode-major


def test_policy_rewards_batch_all_agents_each_with_its_own_policy():
    import logging

    import pandas as pd

    from persim.envs import get_spec
    from persim.evaluation.reward import policy_reward_rows

    class TwoPolicies:  # agent 0 always pushes left; agent 1 balances (pushes toward the lean)
        def actor(self, agent_id):
            if agent_id == 0:
                return lambda obs: np.zeros(len(obs), dtype=np.int64)
            return lambda obs: (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)

    agents = pd.DataFrame({"agent_id": [0, 1], "test_agent": [1, 2], "force": [10.0, 10.0],
                           "length": [0.5, 0.5]})
    settings = {"env": "cartpole", "dataset": "pure", "method_label": "X", "seed": 3, "n_seeds": 2,
                "n_episodes": 3, "max_episode_steps": 200}
    rows = policy_reward_rows(TwoPolicies(), agents, get_spec("cartpole"), settings, logging.getLogger("t"))
    assert [r["agent"] for r in rows] == [1, 2] and all(r["n_seeds"] == 2 for r in rows)
    assert rows[0]["reward"] < 20 and rows[1]["reward"] > 150  # each agent's episodes used its own policy
