"""Load and validate the pipeline configuration outside Snakemake, with errors that name the key.

Snakemake merges ``--configfile`` files over ``config/config.yaml``; :func:`load_config` does the
same for Python users. :func:`check_config` reports every schema violation as ``config key
'a.b.c': message`` so a typo is found before any job runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


class ConfigError(ValueError):
    """The configuration violates the schema; the message names each offending key."""


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge (override wins; lists are replaced), as Snakemake does."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key given twice in one mapping (plain YAML keeps the last one,
    silently dropping the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} (given twice in one mapping)",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """One config file as a dict; a missing file, a YAML syntax error or a key given twice (with its line
    and column) or a top level that is not a mapping raises ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: YAML syntax error: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax error: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys, got {type(data).__name__}")
    return data or {}


def load_config(*paths: str | Path, schema: str | Path = SCHEMA) -> dict[str, Any]:
    """Merge YAML files left to right (first = ``config/config.yaml`` by default) and validate."""
    files = [Path(p) for p in paths] or [ROOT / "config" / "config.yaml"]
    config: dict[str, Any] = {}
    for path in files:
        config = merge(config, read_yaml(path))
    check_config(config, schema)
    return config


def _key(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        path.append(",".join(extra))
    elif error.validator == "required":
        path.append(str(error.message.split("'")[1]))
    return ".".join(path) or "<root>"


def check_config(config: dict[str, Any], schema: str | Path = SCHEMA) -> None:
    """Raise :class:`ConfigError` listing ``config key 'x.y': problem`` for every violation.

    The method names the schema accepts come from the registry (:mod:`persim.methods`)."""
    spec = _with_method_names(yaml.safe_load(Path(schema).read_text()))
    validator = jsonschema.Draft202012Validator(spec)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"config key '{_key(e)}': {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def _with_method_names(spec: dict[str, Any]) -> dict[str, Any]:
    """The schema with the registry's method names as the enums of ``methods.*`` and of the
    baseline sections' ``variants`` keys."""
    from persim.methods import AUGMENTED_METHODS, METHODS, POLICY_METHODS, REGISTRY, SIMULATOR_METHODS

    props = spec.get("properties", {})
    methods = props.get("methods", {}).get("properties", {})
    plain_policies = [m for m in POLICY_METHODS if m not in AUGMENTED_METHODS]
    for key, names in (("simulators", SIMULATOR_METHODS), ("policies", plain_policies)):
        if key in methods:
            methods[key]["items"]["enum"] = list(names)
    plain = [m for m in METHODS if m not in AUGMENTED_METHODS]
    for section, key, names in (("augmentation", "methods", AUGMENTED_METHODS), ("unseen_agents", "baselines", plain),
                                ("data_scarcity", "methods", plain)):
        field = props.get(section, {}).get("properties", {}).get(key)
        if field is not None:
            field["items"]["enum"] = list(names)
    variants = spec.get("$defs", {}).get("baseline_section", {}).get("properties", {}).get("variants")
    if variants is not None:
        variants["propertyNames"] = {"enum": list(METHODS)}
    sections = props.get("baselines", {}).get("properties")
    if sections is not None:  # a registered method's own section, baselines.<key> (a new method: README)
        for key in {m.config_key.split(".", 1)[1] for m in REGISTRY if m.config_key.startswith("baselines.")}:
            sections.setdefault(key, {"$ref": "#/$defs/baseline_section"})
    return spec


def baseline_settings(config: dict[str, Any], env: str, method, origins: bool = False) -> dict[str, Any]:
    """Resolved settings of a baseline for one env: ``common``, then ``env.<env>``, then
    ``variants.<method name>``, then ``variants.<method name>.env.<env>``, from the section
    ``method.config_key`` (``baselines.cadm``).

    ``method`` is a registry row (:class:`persim.methods.MethodSpec`); the result is the keyword
    arguments of that baseline's config dataclass, or with ``origins`` each one's full config key
    (``baselines.bcq.common.n_steps``)."""
    section: Any = config
    for part in method.config_key.split("."):
        section = section.get(part, {}) if isinstance(section, dict) else {}
    variant = dict(section.get("variants", {}).get(method.name, {}))
    variant_env = dict(variant.pop("env", {}) or {}).get(env, {})
    layers = [("common", section.get("common", {})), (f"env.{env}", section.get("env", {}).get(env, {})),
              (f"variants.{method.name}", variant), (f"variants.{method.name}.env.{env}", variant_env)]
    out: dict[str, Any] = {}
    for where, values in layers:
        for key, value in dict(values).items():
            out[key] = f"{method.config_key}.{where}.{key}" if origins else value
    return out


PERSIM_MODEL_KEYS = ("n_members", "epochs", "learning_rate", "lr_halve_every")  # the rest of `persim` is CV / per env


def persim_settings(config: dict[str, Any], env: str, method=None, origins: bool = False) -> dict[str, Any]:
    """PerSim's model settings for ``env``: the shared keys of ``persim`` updated with ``persim.env.<env>``
    (with ``origins``: each one's full config key)."""
    p = config["persim"]
    shared = {k: f"persim.{k}" if origins else p[k] for k in PERSIM_MODEL_KEYS}
    return {**shared, **{k: f"persim.env.{env}.{k}" if origins else v for k, v in p["env"][env].items()}}


def mpc_settings(config: dict[str, Any], env: str) -> dict[str, Any]:
    """The planner settings of ``env``: ``evaluation.reward.mpc.<discrete|continuous>`` updated with
    ``evaluation.reward.mpc.env.<env>`` (every MPC method of a run plans with these)."""
    from persim.envs import get_spec

    mpc = config["evaluation"]["reward"]["mpc"]
    kind = "discrete" if get_spec(env).discrete else "continuous"
    return {**mpc[kind], **mpc.get("env", {}).get(env, {})}


def mpc_episodes(config: dict[str, Any], method: str, env: str) -> int:
    """MPC episodes per seed of simulator ``method`` on ``env`` in the reward evaluations (Tables 9-16):
    ``evaluation.reward.method_episodes.<method>.<env>`` where set (more episodes where a method's
    planning is cheap: a less noisy mean), else ``evaluation.reward.n_episodes``."""
    r = config["evaluation"]["reward"]
    return int((r.get("method_episodes") or {}).get(method, {}).get(env, r["n_episodes"]))


def check_method_episodes(config: dict[str, Any]) -> None:
    """Raise ConfigError naming ``evaluation.reward.method_episodes.<method>`` for a method that is not a
    registered simulator (only simulators plan with MPC)."""
    from persim.methods import SIMULATOR_METHODS

    for method in config["evaluation"]["reward"].get("method_episodes") or {}:
        if method not in SIMULATOR_METHODS:
            raise ConfigError(f"config key 'evaluation.reward.method_episodes.{method}': not a simulator method "
                              f"(simulators: {sorted(SIMULATOR_METHODS)})")


def check_planners(config: dict[str, Any], envs: list[str]) -> None:
    """Build every planner a run uses on ``envs`` (the reward evaluation's, Table 3's synthetic
    trajectories', the reference budget's) from its merged settings; an impossible one (e.g. more CEM
    elites than candidates) raises ConfigError naming its config section and env, before any job."""
    from persim.planning.factory import make_planner
    from persim.planning.mpc import MPCConfig
    from persim.reference_budget import reference_mpc_settings

    for env in envs:
        for key, settings in (("evaluation.reward.mpc", mpc_settings(config, env)),
                              (f"augmentation.mpc.{env}", augmentation_mpc_settings(config, env)),
                              (f"evaluation.reward.reference_mpc.{env}", reference_mpc_settings(config, env))):
            if settings is not None:
                build_dataclass(lambda **s: make_planner(env, s, n_members=1, seed=0), settings, f"{key} ({env})",
                                fields_of=MPCConfig)


def check_unseen_covariates(config: dict[str, Any]) -> None:
    """Raise ConfigError naming ``unseen_agents.covariates.<k>`` where an unseen agent does not give
    exactly its env's covariates (a misspelt name would otherwise stop its job, not the parse)."""
    from persim.envs import get_spec

    unseen = config.get("unseen_agents")
    if not unseen:
        return
    names = list(get_spec(unseen["env"]).covariates)
    for k, cov in enumerate(unseen["covariates"]):
        if set(cov) != set(names):
            raise ConfigError(f"config key 'unseen_agents.covariates.{k}': {cov} must give exactly "
                              f"{unseen['env']}'s covariates {names}")


def mpc_episodes_note(config: dict[str, Any], envs: list[str]) -> str:
    """``" (PerSim: 10 on MountainCar, CartPole)"``: the methods with their own MPC episodes per seed
    (:func:`mpc_episodes`) on ``envs``; "" when none."""
    from persim.envs import get_spec
    from persim.methods import SIMULATOR_METHODS

    parts = []
    for method, per_env in (config["evaluation"]["reward"].get("method_episodes") or {}).items():
        by_count: dict[int, list[str]] = {}
        for env in [e for e in envs if e in per_env]:
            by_count.setdefault(int(per_env[env]), []).append(get_spec(env).label)
        parts += [f"{SIMULATOR_METHODS.get(method, method)}: {n} on {', '.join(labels)}" for n, labels in by_count.items()]
    return f" ({'; '.join(parts)})" if parts else ""


def augmentation_mpc_settings(config: dict[str, Any], env: str) -> dict[str, Any]:
    """The planner of ``env``'s synthetic trajectories (Table 3): the reward evaluation's
    (:func:`mpc_settings`) updated with ``augmentation.mpc.<env>``, its horizon ``augmentation.horizon.<env>``
    (each planned sequence is executed whole, so the planner runs once per ``horizon`` steps)."""
    aug = config["augmentation"]
    return {**mpc_settings(config, env), **(aug.get("mpc") or {}).get(env, {}), "horizon": aug["horizon"][env]}


def _budget(env: str, m: dict[str, Any]) -> str:
    """``"MountainCar 100 x 25"`` (continuous envs: ``" x 1 CEM it."`` added) for planner settings ``m``."""
    from persim.envs import get_spec

    its = f" x {m['cem_iterations']} CEM it." if not get_spec(env).discrete else ""
    return f"{get_spec(env).label} {m['n_candidates']} x {m['horizon']}{its}"


def mpc_budget_note(config: dict[str, Any], envs: list[str]) -> str:
    """``"MPC budget: MountainCar 100 x 25, ..."``: candidates x horizon (x CEM iterations) per env."""
    return "MPC budget (candidates x horizon): " + ", ".join(_budget(e, mpc_settings(config, e)) for e in envs)


def augmentation_budget_note(config: dict[str, Any], envs: list[str]) -> str:
    """``"synthetic trajectories planned at (candidates x horizon) MountainCar 1000 x 50, ..."`` (Table 3's caption)."""
    return ("synthetic trajectories planned at (candidates x horizon) "
            + ", ".join(_budget(e, augmentation_mpc_settings(config, e)) for e in envs))


def policy_updates_note(config: dict[str, Any], envs: list[str], methods: list[str]) -> str:
    """``"BCQ/CQL gradient updates per policy (paper 550,000): MountainCar 300 (BCQ-P, CQL-P: 3,000), ..."``:
    per env the updates most of ``methods``' BCQ / CQL policies get (on a tie the fewest), and the
    methods that differ; "" when none of ``methods`` is BCQ or CQL. The paper's count is the config
    dataclass's default (``OfflineRLConfig.n_steps``)."""
    from persim.envs import get_spec
    from persim.methods import get_method

    specs = [get_method(m) for m in dict.fromkeys(methods)]
    specs = [s for s in specs if s.config_key in ("baselines.bcq", "baselines.cql")]
    if not specs or not envs:
        return ""
    built = {(s.name, e): s.make_config(s.settings(config, e), e, config["episode_steps"][e])
             for s in specs for e in envs}
    paper = type(next(iter(built.values()))).n_steps  # the dataclass default: the class attribute

    def one(env: str) -> str:
        steps = {s.label: int(built[s.name, env].n_steps) for s in specs}
        counts = list(steps.values())
        base = max(counts, key=lambda n: (counts.count(n), -n))  # the most common; on a tie the smallest
        others: dict[int, list[str]] = {}
        for label, n in steps.items():
            if n != base:
                others.setdefault(n, []).append(label)
        extra = "; ".join(f"{', '.join(labels)}: {n:,}" for n, labels in others.items())
        return f"{get_spec(env).label} {base:,}" + (f" ({extra})" if extra else "")

    return (f"BCQ/CQL gradient updates per policy (paper {paper:,}): "
            + ", ".join(one(e) for e in envs))


def build_dataclass(factory, settings: dict[str, Any], key: str, fields_of: type | None = None, **extra: Any):
    """``factory(**extra, **settings)`` (a config dataclass or its ``for_env``); an unknown or invalid
    setting raises ConfigError naming ``key.<field>``. ``fields_of`` is the dataclass when
    ``factory`` is not the class itself."""
    import dataclasses

    cls = fields_of or factory
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"config key '{key}.{','.join(unknown)}': unknown setting for {cls.__name__}; "
                          f"known: {sorted(known)}")
    try:
        return factory(**extra, **settings)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"config key '{key}': {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """``python -m persim.config FILE ...``: check config files as Snakemake will merge them (over
    ``config/config.yaml``), every method's settings included; one line per problem, exit 1."""
    import sys

    files = list(sys.argv[1:] if argv is None else argv)
    if files[:1] in (["-h"], ["--help"]):
        print("usage: python -m persim.config [FILE ...]   (merged over config/config.yaml as Snakemake merges "
              "them;\n       checks the schema, every method's settings and planner; `make check-config` runs more)")
        return 0
    base = ROOT / "config" / "config.yaml"
    paths = [base] + [Path(f) for f in files if Path(f).resolve() != base.resolve()]
    try:
        config = load_config(*paths)
        from persim.methods import check_method_settings, run_methods

        check_method_settings(config, config["envs"], run_methods(config))
        check_planners(config, config["envs"])
        check_unseen_covariates(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"config ok: {' + '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    # run as `python -m persim.config` this file is `__main__`, a second copy of the module: the package's
    # own `main` catches the ConfigError class that persim.methods raises (this copy's is another class)
    from persim.config import main as package_main

    raise SystemExit(package_main())
