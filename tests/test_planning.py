"""MPC planners on the true dynamics, and on a learned ensemble's interface."""
import numpy as np
import torch

from persim.evaluation.reward import evaluate_mpc, true_step_factory
from persim.planning import CEM, MPCConfig, RandomShooting, reward_fn, rollout_scores


def test_random_shooting_on_true_cartpole_reaches_the_limit():
    cfg = MPCConfig()  # the paper's 1000 candidates x horizon 50
    gen = torch.Generator().manual_seed(0)
    planner = RandomShooting(cfg, n_actions=2, reward=reward_fn("cartpole"), n_members=1, generator=gen)
    for cov in ({"force": 2.0, "length": 0.5},):  # the weakest push of the test agents
        returns = evaluate_mpc("cartpole", cov, planner, true_step_factory("cartpole", cov, 1000), n_episodes=2, seed=0)
        np.testing.assert_array_equal(returns, 200.0)


def test_random_shooting_with_position_bonus_solves_mountaincar():
    cfg = MPCConfig(n_candidates=300, horizon=40)
    gen = torch.Generator().manual_seed(0)
    cov = {"gravity": 0.0025}
    planner = RandomShooting(cfg, 3, reward_fn("mountaincar"), 1, position_bonus=cfg.mc_position_bonus, generator=gen)
    returns = evaluate_mpc("mountaincar", cov, planner, true_step_factory("mountaincar", cov, 300), n_episodes=2, seed=0)
    assert (returns > -300).all(), returns  # a random policy gets -500
    # the authors' convention (evaluation.terminal_step_reward): the goal step scores 0, not gymnasium's -1
    planner = RandomShooting(cfg, 3, reward_fn("mountaincar"), 1, position_bonus=cfg.mc_position_bonus,
                             generator=torch.Generator().manual_seed(0))
    authors = evaluate_mpc("mountaincar", cov, planner, true_step_factory("mountaincar", cov, 300), n_episodes=2,
                           seed=0, terminal_reward=0.0)
    np.testing.assert_array_equal(authors, returns + 1)


def test_scores_average_members_and_stop_at_termination():
    # member 0 reaches the MountainCar goal after one step, member 1 never does
    def step(states, actions):
        nxt = states.clone()
        nxt[0, :, 0] = 0.6
        return nxt
    states = torch.tensor([[-0.5, 0.0]])
    actions = torch.zeros(1, 4, 5, dtype=torch.int64)
    scores = rollout_scores(step, reward_fn("mountaincar"), states, actions, n_members=2)
    # the authors': member 0's terminating step earns nothing; member 1: five -1 -> average -2.5
    torch.testing.assert_close(scores, torch.full((1, 4), -2.5))
    scores = rollout_scores(step, reward_fn("mountaincar"), states, actions, n_members=2, count_terminal_reward=True)
    torch.testing.assert_close(scores, torch.full((1, 4), -3.0))  # member 0 counts its terminating -1


def test_position_bonus_counts_every_horizon_step_and_member():
    """The authors subtract 0.01 x max position from every horizon step's cost, once per member."""
    def step(states, actions):  # member 0 climbs to -0.2, member 1 to -0.4, never the goal
        nxt = states.clone()
        nxt[0, :, 0], nxt[1, :, 0] = -0.2, -0.4
        return nxt

    states, actions = torch.tensor([[-0.5, 0.0]]), torch.zeros(1, 3, 4, dtype=torch.int64)
    per_step = rollout_scores(step, reward_fn("mountaincar"), states, actions, 2, position_bonus=0.01)
    torch.testing.assert_close(per_step, torch.full((1, 3), -4.0 + 0.01 * 4 * (-0.2 - 0.4)))
    once = rollout_scores(step, reward_fn("mountaincar"), states, actions, 2, position_bonus=0.01, bonus_per_step=False)
    torch.testing.assert_close(once, torch.full((1, 3), -4.0 + 0.01 * (-0.2 - 0.4) / 2))


def test_random_shooting_warm_starts_from_the_previous_best_shifted():
    cfg = MPCConfig(n_candidates=16, horizon=5)
    seen = []

    def step(states, actions):  # records every row's action at each horizon step
        seen.append(actions.clone())
        return states
    for warm in (True, False):
        planner = RandomShooting(MPCConfig(**{**cfg.__dict__, "warm_start": warm}), 3,
                                 lambda s, a, n: (a.float(), torch.zeros_like(a, dtype=torch.bool)), 1,
                                 generator=torch.Generator().manual_seed(0))
        planner.reset(2)
        seen.clear()
        planner.act(step, torch.zeros(2, 2))
        first = torch.stack(seen, 1).view(2, 16, 5)  # [E, C, H]
        best = first.sum(-1).argmax(1)
        best_seq = first[torch.arange(2), best]
        seen.clear()
        planner.act(step, torch.zeros(2, 2))  # the same episodes' next step
        second = torch.stack(seen, 1).view(2, 16, 5)
        shifted_match = torch.equal(second[:, 0, :-1], best_seq[:, 1:])
        assert shifted_match == warm
    planner.reset(2)  # new episodes: nothing to warm start from
    assert (planner.best == -1).all()


def test_cem_redraws_out_of_bound_actions_instead_of_piling_them_on_the_bound():
    for resample in (True, False):
        cfg = MPCConfig(n_candidates=400, horizon=2, resample_out_of_bounds=resample)
        cem = CEM(cfg, -torch.ones(1), torch.ones(1), reward_fn("halfcheetah"), 1,
                  generator=torch.Generator().manual_seed(0))
        cand = cem._sample(torch.ones(1, 2, 1), torch.full((1, 2, 1), 0.5), -torch.ones(1), torch.ones(1))
        assert cand.abs().max() <= 1.0
        on_bound = (cand == 1.0).float().mean().item()
        assert (on_bound == 0.0) if resample else (0.4 < on_bound < 0.6), (resample, on_bound)


def test_cem_improves_on_a_quadratic_and_warm_starts():
    target = torch.tensor([0.5, -0.25])

    def step(states, actions):  # next state's obs[17] is the reward signal: -|a - target|^2
        nxt = torch.zeros(*states.shape[:2], 18)
        nxt[..., 17] = -(actions - target).square().sum(-1)
        return nxt

    cfg = MPCConfig(n_candidates=100, horizon=3, cem_iterations=5, n_elites=10)
    cem = CEM(cfg, -torch.ones(2), torch.ones(2), lambda s, a, n: (n[..., 17], torch.zeros_like(n[..., 17]).bool()), 1,
              generator=torch.Generator().manual_seed(0))
    cem.reset(2)
    first = cem.act(lambda s, a: step(s, a), torch.zeros(2, 18))
    assert first.shape == (2, 2)
    torch.testing.assert_close(first, target.expand(2, -1), atol=0.1, rtol=0)
    assert cem.mean[:, -1].abs().max() == 0  # shifted warm start ends in zeros


def test_halfcheetah_state_copies_match_the_env_step_for_step():
    from persim.envs import make
    from persim.planning.mujoco_dynamics import HalfCheetahDynamics

    cov = {"mass": 0.3, "damping": 1.7}
    env = make("halfcheetah", **cov)
    obs, _ = env.reset(seed=3)
    dyn = HalfCheetahDynamics(cov)
    rng = np.random.default_rng(0)
    states, actions, truth = [], [], []
    for _ in range(40):
        a = rng.uniform(-1, 1, 6)
        nxt = env.step(a)[0]
        states.append(obs), actions.append(a), truth.append(nxt)
        obs = nxt
    # all 40 transitions as one batch of state copies, through the torch interface with a member axis
    pred = dyn.step(torch.tensor(np.stack(states))[None], torch.tensor(np.stack(actions)))
    np.testing.assert_allclose(pred[0].numpy(), np.stack(truth), atol=1e-9)
    other = HalfCheetahDynamics({"mass": 1.7, "damping": 0.3}).step_numpy(np.stack(states), np.stack(actions))
    assert np.abs(other - np.stack(truth)).max() > 1e-2  # the covariates matter


def test_batched_agents_in_one_evaluation_match_their_separate_dynamics():
    """Two HalfCheetah agents planned in one batch: each candidate row steps with its own agent's model."""
    covs = [{"mass": 0.3, "damping": 1.7}, {"mass": 1.7, "damping": 0.3}]
    factory = true_step_factory("halfcheetah", covs, n_candidates=3)
    step = factory(np.array([0, 1]))
    rng = np.random.default_rng(1)
    states = torch.tensor(rng.normal(0, 0.1, (1, 6, 18)))
    actions = torch.tensor(rng.uniform(-1, 1, (6, 6)))
    out = step(states, actions)
    from persim.planning.mujoco_dynamics import HalfCheetahDynamics

    for e, cov in enumerate(covs):
        rows = slice(3 * e, 3 * e + 3)
        want = HalfCheetahDynamics(cov).step(states[:, rows], actions[rows])
        torch.testing.assert_close(out[:, rows], want)


class _DynamicsSim:
    """A stand-in simulator that plans on MountainCar's true dynamics (``gravity``) or, with None, on a
    model where the car never moves (no plan looks better than another)."""
    planning_members, context_length, device = 1, 0, torch.device("cpu")

    def __init__(self, gravity):
        self.gravity = gravity

    def planning_step(self, agents, n_rows, context=None, generator=None):
        from persim.envs.torch_dynamics import batched_step

        def step(states, actions):
            if self.gravity is None:
                return states
            cov = torch.full((states.shape[1], 1), self.gravity)
            return batched_step("mountaincar", states, actions.expand(states.shape[0], *actions.shape), cov)[0]
        return step


def test_each_seed_plans_on_its_own_simulator():
    import pandas as pd
    import pytest

    from persim.envs import get_spec
    from persim.evaluation.reward import plan_rewards, reward_episodes
    agents = pd.DataFrame({"agent_id": [0], "test_agent": [1], "gravity": [0.0025]})
    plan = reward_episodes(agents, get_spec("mountaincar"), seed=0, n_seeds=2, n_episodes=1)
    assert plan.seed_episodes(0).tolist() == [0] and plan.seed_episodes(1).tolist() == [1]
    mpc = {"n_candidates": 300, "horizon": 40}
    good, frozen = _DynamicsSim(0.0025), _DynamicsSim(None)
    per_seed = plan_rewards("mountaincar", plan, [good, frozen], mpc, seed=0, max_episode_steps=300)
    assert per_seed[0] > -300 and per_seed[1] == -300  # seed 1's (useless) simulator, seed 0's good one
    shared = plan_rewards("mountaincar", plan, [good], mpc, seed=0, max_episode_steps=300)
    assert (shared > -300).all()  # one simulator plans every seed
    with pytest.raises(ValueError, match="3 simulators for 2 seeds"):
        plan_rewards("mountaincar", plan, [good] * 3, mpc, seed=0, max_episode_steps=300)
