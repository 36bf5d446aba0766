"""CaDM baseline: learns heterogeneous dynamics from context, particle semantics, windows, config."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from persim.baselines.cadm import CaDMConfig, CaDMSimulator, train_cadm, trajectory_bounds, window_rows
from persim.data.schema import OfflineDataset
from persim.envs.torch_dynamics import batched_step


def history_windows(ds: OfflineDataset, context_length: int) -> tuple[np.ndarray, ...]:
    """The K = ``context_length`` transitions preceding every transition, within its trajectory.

    Returns ``(obs [T, K, D], actions [T, K] | [T, K, A], next_obs [T, K, D], mask [T, K] bool)``;
    slot K-1 is the transition just before row i, slot 0 the one K steps back. Slots before the
    trajectory start have ``mask`` False and hold zeros.
    """
    if context_length < 1:
        raise ValueError(f"context_length must be >= 1, got {context_length}")
    start, _ = trajectory_bounds(ds.agent_ids, ds.t)
    idx = np.arange(len(ds.t))[:, None] + np.arange(-context_length, 0)[None, :]
    mask = idx >= start[:, None]
    idx = np.where(mask, idx, 0)

    def gather(x: np.ndarray) -> np.ndarray:
        out = x[idx]
        out[~mask] = 0
        return out

    return gather(ds.obs), gather(ds.actions), gather(ds.next_obs), mask


TINY = dict(hidden=(64, 64), context_hidden=(64, 32), weight_decay=1e-5, context_weight_decay=1e-5, batch_size=64)


def _dataset(env, obs, actions, next_obs, agent_ids, t, covariates) -> OfflineDataset:
    n = len(t)
    return OfflineDataset(env, "<memory>", {}, agent_ids, covariates, t, obs, actions, -np.ones(n), next_obs,
                          np.zeros(n, bool), t == t.max())


def mc_dataset(gravities, steps: int, seed: int) -> OfflineDataset:
    """One random-action MountainCar trajectory per gravity (true dynamics, no termination), started
    uniformly over the track so that the gravity term matters on most steps."""
    g = torch.Generator().manual_seed(seed)
    n = len(gravities)
    cov = torch.tensor(gravities, dtype=torch.float64)[:, None]
    s = torch.stack([torch.rand(n, generator=g, dtype=torch.float64) * 1.6 - 1.2,
                     (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 0.06], -1)
    obs, acts, nxt = [], [], []
    for _ in range(steps):
        a = torch.randint(3, (n,), generator=g)
        s2 = batched_step("mountaincar", s, a, cov)[0]
        obs.append(s), acts.append(a), nxt.append(s2)
        s = s2
    flat = lambda xs: torch.stack(xs, 1).reshape(n * steps, -1).float().numpy()  # noqa: E731
    ids, t = np.repeat(np.arange(n), steps), np.tile(np.arange(steps), n)
    return _dataset("mountaincar", flat(obs), torch.stack(acts, 1).reshape(-1).numpy().astype(np.int64), flat(nxt),
                    ids, t, cov.numpy()[ids])


def continuous_dataset(n_agents: int = 4, steps: int = 30, seed: int = 0) -> OfflineDataset:
    """HalfCheetah-shaped (D = 18, A = 6) linear dynamics s' = 0.9 s + k_agent · B a, for shapes only."""
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(6, 18)).astype(np.float32) * 0.1
    obs, acts, nxt = [], [], []
    s = rng.normal(size=(n_agents, 18)).astype(np.float32)
    scale = np.linspace(0.5, 2.0, n_agents, dtype=np.float32)[:, None]
    for _ in range(steps):
        a = rng.uniform(-1, 1, size=(n_agents, 6)).astype(np.float32)
        s2 = 0.9 * s + scale * (a @ b)
        obs.append(s), acts.append(a), nxt.append(s2)
        s = s2
    flat = lambda xs: np.stack(xs, 1).reshape(n_agents * steps, -1)  # noqa: E731
    ids, t = np.repeat(np.arange(n_agents), steps), np.tile(np.arange(steps), n_agents)
    return _dataset("halfcheetah", flat(obs), flat(acts), flat(nxt), ids, t, np.ones((len(t), 2)))


@pytest.fixture(scope="module")
def vanilla():
    """Vanilla CaDM on 20 MountainCar agents (gravity 0.0001..0.0035, 150 steps each); ~15 s."""
    torch.set_num_threads(1)
    ds = mc_dataset(np.linspace(0.0001, 0.0035, 20), 150, seed=0)
    cfg = CaDMConfig(epochs=30, patience=30, **TINY)
    sim, hist = train_cadm(ds, cfg, seed=0)
    return ds, sim, hist


def _normalised_mse(pred: np.ndarray, ds: OfflineDataset) -> np.ndarray:
    """Per-coordinate MSE of predicted next states over the variance of the true Δs ``[D]``."""
    true_delta = ds.next_obs - ds.obs
    return np.square(pred - ds.next_obs).mean(0) / true_delta.var(0)


def test_cadm_beats_a_constant_predictor_on_held_out_agents(vanilla):
    train_ds, sim, hist = vanilla
    assert list(hist.columns[:5]) == ["epoch", "train_loss", "train_mse", "val_loss", "val_mse"]
    assert hist["val_loss"].iloc[-1] < 0.5 * hist["val_loss"].iloc[0]
    test = mc_dataset([0.0003, 0.0012, 0.0021, 0.0033], 150, seed=1)  # new agents, new trajectories
    ctx = sim.encode_context(*history_windows(test, sim.context_length))
    pred = sim.predict(None, test.obs, test.actions, ctx).numpy()
    constant = test.obs + (train_ds.next_obs - train_ds.obs).mean(0)  # mean-Δs predictor
    model_err, const_err = _normalised_mse(pred, test), _normalised_mse(constant, test)
    assert (const_err > 0.9).all(), const_err
    # position change is easy (≈ velocity); velocity change needs the gravity the context infers
    assert model_err[0] < 0.02 and model_err[1] < 0.2 * const_err[1], (model_err, const_err)


def test_own_context_predicts_better_than_another_agents_context(vanilla):
    _, sim, _ = vanilla
    test = mc_dataset([0.0005, 0.0035], 150, seed=2)
    ctx = sim.encode_context(*history_windows(test, sim.context_length))
    n = len(test.t) // 2
    swapped = torch.cat([ctx[n:], ctx[:n]])  # each step gets the other agent's context of the same t
    own = _normalised_mse(sim.predict(None, test.obs, test.actions, ctx).numpy(), test)
    other = _normalised_mse(sim.predict(None, test.obs, test.actions, swapped).numpy(), test)
    assert other[1] > 3 * own[1], (own, other)
    # contexts of the two agents are told apart: mean context gap exceeds the spread within an agent
    c = ctx[test.t >= sim.context_length].numpy().reshape(2, -1, ctx.shape[1])
    gap = np.linalg.norm(c[0].mean(0) - c[1].mean(0))
    assert gap > 3 * np.linalg.norm(c[0] - c[0].mean(0), axis=1).mean(), gap


def test_vanilla_step_particles_is_the_deterministic_mean(vanilla, tmp_path):
    ds, sim, _ = vanilla
    assert sim.planning_members == 1 and sim.context_length == 10
    ctx = sim.encode_context(*(x[:32] for x in history_windows(ds, 10)))
    assert ctx.shape == (32, 10)
    s, a = torch.as_tensor(ds.obs[:32]), torch.as_tensor(ds.actions[:32])
    out = sim.step_particles(s, a, ctx)
    assert out.shape == (1, 32, 2)
    torch.testing.assert_close(out[0], sim.predict(None, s, a, ctx))
    torch.testing.assert_close(sim.step_particles(out, a, ctx), sim.step_particles(out, a[None], ctx))
    sim.save(tmp_path / "v.pt")
    again = CaDMSimulator.load(tmp_path / "v.pt")
    torch.testing.assert_close(again.predict(None, s, a, ctx), sim.predict(None, s, a, ctx), rtol=0, atol=0)


def test_invalid_history_slots_are_ignored(vanilla):
    ds, sim, _ = vanilla
    obs, acts, nxt, mask = (x[:40].copy() for x in history_windows(ds, 10))  # rows t = 0..39 of agent 0
    ref = sim.encode_context(obs, acts, nxt, mask)
    obs[~mask], nxt[~mask], acts[~mask] = np.nan, 7.0, 2
    torch.testing.assert_close(sim.encode_context(obs, acts, nxt, mask), ref)
    assert (ref[0] - ref[20]).abs().max() > 1e-3  # an empty history differs from a full one


def test_history_windows_mask_the_episode_start():
    # trajectory A: 3 transitions (agent 7), trajectory B: 4 transitions (agent 2); K = 3
    obs = np.arange(7, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    ds = _dataset("mountaincar", obs, np.arange(7, dtype=np.int64) % 3, obs + 0.5,
                  np.array([7, 7, 7, 2, 2, 2, 2]), np.array([0, 1, 2, 0, 1, 2, 3]), np.zeros((7, 1)))
    start, end = trajectory_bounds(ds.agent_ids, ds.t)
    np.testing.assert_array_equal(start, [0, 0, 0, 3, 3, 3, 3])
    np.testing.assert_array_equal(end, [2, 2, 2, 6, 6, 6, 6])
    h_obs, h_act, h_next, mask = history_windows(ds, 3)
    assert h_obs.shape == (7, 3, 2) and h_act.shape == (7, 3) and mask.dtype == bool
    np.testing.assert_array_equal(mask, [[0, 0, 0], [0, 0, 1], [0, 1, 1],
                                         [0, 0, 0], [0, 0, 1], [0, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(h_obs[6, :, 0], [3, 4, 5])     # rows 3, 4, 5 precede row 6
    np.testing.assert_array_equal(h_obs[5, :, 0], [0, 3, 4])     # slot 0 is padding, not row 2 of A
    np.testing.assert_array_equal(h_next[2, :, 0], [0, 0.5, 1.5])
    np.testing.assert_array_equal(h_act[5], [0, 0, 1])           # padding (row 2's action 2 zeroed), rows 3, 4
    np.testing.assert_array_equal(h_act[6], [0, 1, 2])
    # the training windows' own rows and masks (persim.baselines.cadm.window_rows), K = 3, H = 2
    bounds = SimpleNamespace(start=torch.as_tensor(start), end=torch.as_tensor(end),
                             hist_offsets=torch.arange(-3, 0), fut_offsets=torch.arange(2))
    hist, hmask, fut, fmask = window_rows(bounds, torch.arange(7))
    np.testing.assert_array_equal(hmask.numpy(), mask)           # the same padding as above
    np.testing.assert_array_equal(hist[6].numpy(), [3, 4, 5])
    np.testing.assert_array_equal(hist[0].numpy(), [0, 0, 0])   # padding rows clamped to row 0 (masked)
    np.testing.assert_array_equal(fmask.numpy(), [[1, 1], [1, 1], [1, 0], [1, 1], [1, 1], [1, 1], [1, 0]])
    np.testing.assert_array_equal(fut[2].numpy(), [2, 3])       # row 3 belongs to B: masked above
    np.testing.assert_array_equal(fut[6].numpy(), [6, 6])       # clamped at the last row


def test_pets_particles_sample_their_fixed_member(tmp_path):
    torch.set_num_threads(1)
    ds = mc_dataset(np.linspace(0.0005, 0.003, 6), 40, seed=3)
    cfg = CaDMConfig.for_variant("pets", epochs=2, **{**TINY, "hidden": (32, 32)})
    sim, hist = train_cadm(ds, cfg, seed=0)
    assert sim.planning_members == 20 and len(hist) == 2
    b = 8
    ctx = sim.encode_context(*(x[20:20 + b] for x in history_windows(ds, 10)))
    s, a = torch.as_tensor(ds.obs[20:20 + b]), torch.as_tensor(ds.actions[20:20 + b])
    gen = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    out = sim.step_particles(s, a, ctx, generator=gen(0))
    assert out.shape == (20, b, 2)
    torch.testing.assert_close(out, sim.step_particles(s, a, ctx, generator=gen(0)), rtol=0, atol=0)
    assert not torch.equal(out, sim.step_particles(s, a, ctx, generator=gen(1)))
    assert (out[0] - out[1]).abs().max() > 0  # same member, different samples
    # leading-P inputs give the same as broadcast ones
    torch.testing.assert_close(sim.step_particles(s.expand(20, -1, -1), a.expand(20, -1), ctx, generator=gen(0)), out)
    # save / load keeps the model and the sampling
    sim.save(tmp_path / "p.pt")
    again = CaDMSimulator.load(tmp_path / "p.pt")
    torch.testing.assert_close(again.step_particles(s, a, ctx, generator=gen(0)), out, rtol=0, atol=0)
    torch.testing.assert_close(again.predict(None, s, a, ctx), sim.predict(None, s, a, ctx), rtol=0, atol=0)
    # with the variance squeezed to ~0, particle p lands on the mean of member p // 4
    means, std = sim.member_distributions(s, a, ctx)
    assert means.shape == (5, b, 2) and std.shape == (5, b, 2) and (std > 0).all()
    assert (means[0] - means[1]).abs().max() > 1e-5  # independently initialised members
    torch.testing.assert_close(sim.predict(None, s, a, ctx), means.mean(0))
    with torch.no_grad():
        sim.net.max_logvar.fill_(-60.0), sim.net.min_logvar.fill_(-70.0)
    states = s + 0.01 * torch.randn(20, b, 2, generator=gen(5))  # distinct particles
    sharp = sim.step_particles(states, a, ctx, generator=gen(0))
    for p in range(20):
        torch.testing.assert_close(sharp[p], sim.member_distributions(states[p], a, ctx)[0][p // 4], rtol=0, atol=1e-6)


def test_continuous_actions_and_early_stopping():
    torch.set_num_threads(1)
    ds = continuous_dataset()
    cfg = CaDMConfig.for_variant("pets", epochs=40, patience=2, learning_rate=0.1, val_fraction=0.2,
                                 **{**TINY, "hidden": (32,), "context_hidden": (16,)})
    sim, hist = train_cadm(ds, cfg, seed=0)
    assert len(hist) < 40 and len(hist) == sim.meta["best_epoch"] + 2  # stopped `patience` after the best
    h = history_windows(ds, 10)
    assert h[1].shape == (len(ds.t), 10, 6)
    ctx = sim.encode_context(*(x[:5] for x in h))
    acts = torch.as_tensor(ds.actions[:5])
    out = sim.step_particles(torch.as_tensor(ds.obs[:5]), acts.expand(20, -1, -1), ctx)
    assert out.shape == (20, 5, 18) and torch.isfinite(out).all()


@pytest.mark.parametrize("bad, match", [
    (dict(n_particles=7, n_members=5), "n_particles"),
    (dict(context_length=0), "context_length"),
    (dict(hidden=()), "hidden"),
    (dict(hidden=(64, 64)), "weight_decay"),           # 5 reference decays for 3 layers
    (dict(val_fraction=1.0), "val_fraction"),
    (dict(min_logvar_init=1.0, max_logvar_init=0.5), "min_logvar_init"),
])
def test_bad_config_is_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        CaDMConfig(**bad)
    with pytest.raises(ValueError, match="variant"):
        CaDMConfig.for_variant("pe-ts")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cadm_trains_and_steps_on_cuda():
    ds = mc_dataset(np.linspace(0.0005, 0.003, 6), 40, seed=3)
    sim, _ = train_cadm(ds, CaDMConfig.for_variant("pets", epochs=2, **TINY), seed=0, device="cuda")
    h = [x[:8] for x in history_windows(ds, 10)]
    ctx = sim.encode_context(*h)
    s, a = torch.as_tensor(ds.obs[:8]), torch.as_tensor(ds.actions[:8])
    for gen in (torch.Generator().manual_seed(0), torch.Generator(device="cuda").manual_seed(0)):
        out = sim.step_particles(s, a, ctx, generator=gen)
        assert out.device.type == "cuda" and out.shape == (20, 8, 2)
