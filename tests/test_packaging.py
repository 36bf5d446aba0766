"""environment.yml and pyproject.toml declare the same dependency set."""
import tomllib

import yaml

from conftest import REPO


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert set(pip) == wanted
    assert "python=3.11" in env["dependencies"]
    assert "torch==2.13.0" in wanted


def test_paper_tables_copy_is_shipped():
    from persim.reporting.paper import load_paper_tables

    paper = load_paper_tables()
    assert set(paper["table"]) >= {3, 5, 6, 7, 8, 9, 10, 11}
    row = paper.query("table == 5 and env == 'mountaincar' and dataset == 'pure' and agent == 1")
    assert row["mean"].item() == -48.0


def test_non_python_sources_are_package_data():
    """A non-editable install carries the paper's numbers and the planner's C kernel."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["persim"]
    shipped = {p for pattern in data for p in (REPO / "persim").glob(pattern)}
    assert REPO / "persim/models/native_step.c" in shipped
    assert REPO / "persim/reporting/data/paper_tables.csv" in shipped
