"""Bad configuration stops Snakemake before any job, with an error naming the key."""
import pytest
import yaml

from conftest import snakemake


@pytest.mark.parametrize(
    "override,key",
    [
        ({"agents": {"n_agent": 10}}, "n_agent"),  # unknown key
        ({"seed": "zero"}, "seed"),  # wrong type
        ({"agents": {"n_agents": 2}}, "n_agents"),  # out of range
        ({"datasets": {"epsilon": {"pure_eps20": 1.5}}}, "pure_eps20"),  # out of range, nested
        ({"policies": {"cartpole": {"n_steps": 0}}}, "n_steps"),
        ({"envs": ["pendulum"]}, "pendulum"),
    ],
)
def test_bad_config_names_the_key(workflow_copy, override, key):
    bad = workflow_copy / "bad.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load((workflow_copy / "config/smoke.yaml").read_text()), **override}))
    res = snakemake(workflow_copy, "-n", "--configfile", str(bad))
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert key in out, out[-2000:]
    assert not (workflow_copy / "results").exists()


def test_profiles_validate_and_share_the_dag(workflow_copy):
    for profile in ("config.yaml", "quick.yaml", "smoke.yaml"):
        res = snakemake(workflow_copy, "-n", "-q", "--configfile", f"config/{profile}")
        assert res.returncode == 0, res.stderr[-2000:]
