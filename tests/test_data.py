"""Datasets: schema, validating loader, determinism and independent behaviour streams."""
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from persim.data import DatasetError, expected_columns, generate_dataset, load_dataset, write_dataset
from persim.envs import get_spec
from persim.envs.agents import sample_agents


def _always(action):
    return lambda obs: np.full(len(obs), action, dtype=np.int64)


def _policies(name):
    spec = get_spec(name)
    if spec.discrete:
        return {f"logging{k}": _always(k % 2) for k in range(len(spec.policy_agents))}
    return {f"logging{k}": (lambda obs: np.zeros((len(obs), 6), np.float32)) for k in range(len(spec.policy_agents))}


def _make(name, behaviour="pure_eps20", eps=0.2, seed=0, n=7, steps=30):
    agents = sample_agents(get_spec(name), n, seed=1)
    return generate_dataset(name, agents, behaviour, eps, seed, _policies(name), max_episode_steps=steps)


@pytest.mark.parametrize("name", ["mountaincar", "cartpole", "halfcheetah"])
def test_dataset_schema_roundtrip(tmp_path, name):
    frame = _make(name)
    assert {c: str(frame[c].dtype) for c in frame.columns} == expected_columns(name)
    path = tmp_path / "d.parquet"
    write_dataset(frame, path, {"env": name, "behaviour": "pure_eps20"})
    ds = load_dataset(path, env=name)
    assert ds.n_transitions == len(frame)
    assert sorted(ds.lengths().index) == list(range(7))  # one trajectory per agent
    assert (ds.lengths() <= 30).all()
    # consecutive transitions chain: next_obs(t) == obs(t+1) within an agent
    same = ds.agent_ids[1:] == ds.agent_ids[:-1]
    np.testing.assert_array_equal(ds.next_obs[:-1][same], ds.obs[1:][same])
    # episodes end by termination or truncation exactly at their last transition
    last = np.append(~same, True)
    assert ((ds.terminated | ds.truncated) == last).all()


def test_same_seed_same_dataset_and_behaviours_differ():
    a, b = _make("cartpole", seed=5), _make("cartpole", seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(_make("cartpole", seed=6))
    r1 = _make("cartpole", behaviour="random", eps=1.0, seed=5)
    r2 = _make("cartpole", behaviour="pure_eps40", eps=1.0, seed=5)  # same epsilon, other stream
    assert not r1["action"].equals(r2["action"])


def test_pure_follows_policy_and_random_ignores_it():
    pure = _make("cartpole", behaviour="pure", eps=0.0)
    agents = sample_agents(get_spec("cartpole"), 7, seed=1).set_index("agent_id")
    expected = agents.loc[pure["agent_id"], "logging_policy"].str[-1].astype(int).to_numpy() % 2
    np.testing.assert_array_equal(pure["action"].to_numpy(), expected)
    rand = _make("cartpole", behaviour="random", eps=1.0)
    assert set(rand["action"]) == {0, 1}
    # each agent's toy policy always picks one action: random data must not follow it
    assert (rand.groupby("agent_id")["action"].nunique() == 2).all()


def _write(tmp_path, frame, env="cartpole", name="bad.parquet"):
    path = tmp_path / name
    write_dataset(frame, path, {"env": env})
    return path


def test_loader_errors_name_file_and_column(tmp_path):
    good = _make("cartpole")
    with pytest.raises(DatasetError, match=r"bad\.parquet.*missing column 'reward'"):
        load_dataset(_write(tmp_path, good.drop(columns=["reward"])))
    with pytest.raises(DatasetError, match=r"column 'action' has dtype float64"):
        load_dataset(_write(tmp_path, good.astype({"action": "float64"})))
    nan = good.copy()
    nan.loc[3, "obs_2"] = np.nan
    with pytest.raises(DatasetError, match=r"column 'obs_2' contains NaN"):
        load_dataset(_write(tmp_path, nan))
    with pytest.raises(DatasetError, match=r"for env 'cartpole', expected 'mountaincar'"):
        load_dataset(_write(tmp_path, good), env="mountaincar")
    shuffled = good.copy()
    shuffled["t"] = shuffled["t"][::-1].to_numpy()
    with pytest.raises(DatasetError, match="column 't'"):
        load_dataset(_write(tmp_path, shuffled))
    plain = tmp_path / "plain.parquet"
    good.to_parquet(plain)
    with pytest.raises(DatasetError, match=r"plain\.parquet: no 'persim' metadata"):
        load_dataset(plain)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope.parquet")


def test_metadata_is_kept(tmp_path):
    path = _write(tmp_path, _make("mountaincar"), env="mountaincar", name="ok.parquet")
    assert load_dataset(path).meta == {"env": "mountaincar"}
    assert b"persim" in pq.read_schema(path).metadata


def _written(tmp_path, name="cartpole", n=7, steps=30, edit=None):
    frame = _make(name, n=n, steps=steps)
    if edit is not None:
        edit(frame)
    path = tmp_path / f"{name}.parquet"
    write_dataset(frame, path, {"env": name, "behaviour": "pure_eps20"})
    return path


def test_a_damaged_page_is_detected_not_loaded(tmp_path):
    """Zero bytes anywhere in the data pages (footer intact): never altered values, always an error
    naming the file. Without page checksums most such positions load silently altered (measured:
    249 of 316 positions for this file)."""
    path = _written(tmp_path, n=20, steps=60)
    original = path.read_bytes()
    footer = int.from_bytes(original[-8:-4], "little") + 8  # footer length + "PAR1" + its own 4 bytes
    damaged = tmp_path / "damaged.parquet"
    for offset in range(4, len(original) - footer - 20, 211):
        raw = bytearray(original)
        raw[offset:offset + 20] = bytes(20)
        damaged.write_bytes(bytes(raw))
        with pytest.raises(DatasetError, match=r"damaged\.parquet: damaged file"):
            load_dataset(damaged)


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.__setitem__("action", f["action"].where(f.index != 5, 2)), r"column 'action' holds 2, outside"),
    (lambda f: f.__setitem__("agent_id", f["agent_id"].replace(6, 9)), r"column 'agent_id' holds 9.*>= 7"),
    (lambda f: f.__setitem__("t", f["t"] + (f["agent_id"] == 3)), r"column 't' must start at 0.*agent 3 starts at 1"),
])
def test_out_of_range_values_are_named(tmp_path, edit, match):
    path = _written(tmp_path, edit=edit)
    with pytest.raises(DatasetError, match=match):
        load_dataset(path, n_agents=7)


def test_continuous_actions_outside_the_box_are_named(tmp_path):
    path = _written(tmp_path, "halfcheetah", edit=lambda f: f.__setitem__("action_3", f["action_3"] + 1.5))
    with pytest.raises(DatasetError, match=r"column 'action_3'.*outside halfcheetah's action bounds \[-1, 1\]"):
        load_dataset(path)


def test_metadata_that_is_not_json_names_the_file(tmp_path):
    import pyarrow as pa

    table = pa.Table.from_pandas(_make("cartpole"), preserve_index=False)
    path = tmp_path / "bad_meta.parquet"
    pq.write_table(table.replace_schema_metadata({b"persim": b"{not json"}), path)
    with pytest.raises(DatasetError, match=r"bad_meta\.parquet: its 'persim' metadata is not valid JSON"):
        load_dataset(path)


def test_terminal_reward_replaces_only_the_step_that_ended_an_episode():
    from persim.data.rollout import Transitions
    # episode 0 reaches its goal at its 3rd step; episode 1 is truncated (time limit) at its 2nd
    tr = Transitions(episode=np.array([0, 0, 0, 1, 1]), t=np.array([0, 1, 2, 0, 1]), obs=np.zeros((5, 2), np.float32),
                     actions=np.zeros(5, np.int64), rewards=-np.ones(5), next_obs=np.zeros((5, 2), np.float32),
                     terminated=np.array([False, False, True, False, False]),
                     truncated=np.array([False, False, False, False, True]))
    np.testing.assert_array_equal(tr.episode_returns(2), [-3, -2])
    np.testing.assert_array_equal(tr.episode_returns(2, terminal_reward=0.0), [-2, -2])


@pytest.mark.parametrize("extra", [["obs_4", "next_obs_4"], ["action_0"]])
def test_state_or_action_columns_beyond_the_envs_dimensions_are_named(tmp_path, extra):
    """CartPole has D = 4 and one discrete ``action`` column: more ``obs_i`` / ``action_i`` columns
    would otherwise load with those dimensions silently dropped."""
    path = _written(tmp_path, edit=lambda f: [f.__setitem__(c, np.float32(0.0)) for c in extra])
    with pytest.raises(DatasetError, match=re.escape(f"unexpected columns {extra}: env 'cartpole' has obs_dim D=4")):
        load_dataset(path)


def test_other_extra_columns_still_load(tmp_path):
    """Columns outside the schema's patterns (your annotations) are allowed and not loaded."""
    ds = load_dataset(_written(tmp_path, edit=lambda f: f.__setitem__("source", "lab 2")))
    assert ds.obs.shape[1] == 4


def test_a_covariate_changing_within_an_agent_is_named(tmp_path):
    def edit(frame):
        frame.loc[frame.index[frame["agent_id"] == 3][2], "force"] += 1.0

    with pytest.raises(DatasetError, match=r"covariate column 'force' changes within agent 3's rows"):
        load_dataset(_written(tmp_path, edit=edit))


@pytest.mark.parametrize("col, dtype", [("agent_id", "float64"), ("t", "Int64"), ("action", "float64"),
                                        ("terminated", "object"), ("truncated", "boolean")])
def test_missing_values_in_int_or_bool_columns_are_named(tmp_path, col, dtype):
    """pandas holds a NaN in an int64 / bool column as float64, Int64, object or boolean: the error
    says the value is missing, naming the column and the row, not only that the dtype is off."""
    def edit(frame):
        frame[col] = frame[col].astype(dtype)
        frame.loc[4, col] = None

    with pytest.raises(DatasetError, match=rf"column '{col}' has 1 missing value\(s\) \(NaN/null\), the first in "
                                           r"row 4"):
        load_dataset(_written(tmp_path, edit=edit))
