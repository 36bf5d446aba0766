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


def load_config(*paths: str | Path, schema: str | Path = SCHEMA) -> dict[str, Any]:
    """Merge YAML files left to right (first = ``config/config.yaml`` by default) and validate."""
    files = [Path(p) for p in paths] or [ROOT / "config" / "config.yaml"]
    config: dict[str, Any] = {}
    for path in files:
        config = merge(config, yaml.safe_load(path.read_text()) or {})
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
    from persim.methods import METHODS, POLICY_METHODS, SIMULATOR_METHODS

    methods = spec.get("properties", {}).get("methods", {}).get("properties", {})
    for key, names in (("simulators", SIMULATOR_METHODS), ("policies", POLICY_METHODS)):
        if key in methods:
            methods[key]["items"]["enum"] = list(names)
    variants = spec.get("$defs", {}).get("baseline_section", {}).get("properties", {}).get("variants")
    if variants is not None:
        variants["propertyNames"] = {"enum": list(METHODS)}
    return spec


def baseline_settings(config: dict[str, Any], env: str, method, origins: bool = False) -> dict[str, Any]:
    """Resolved settings of a baseline for one env: ``common``, then ``env.<env>``, then
    ``variants.<method name>``, from the section ``method.config_key`` (``baselines.cadm``).

    ``method`` is a registry row (:class:`persim.methods.MethodSpec`); the result is the keyword
    arguments of that baseline's config dataclass, or with ``origins`` each one's full config key
    (``baselines.bcq.common.n_steps``)."""
    section: Any = config
    for part in method.config_key.split("."):
        section = section.get(part, {}) if isinstance(section, dict) else {}
    layers = [("common", section.get("common", {})), (f"env.{env}", section.get("env", {}).get(env, {})),
              (f"variants.{method.name}", section.get("variants", {}).get(method.name, {}))]
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
