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
    """Raise :class:`ConfigError` listing ``config key 'x.y': problem`` for every violation."""
    spec = yaml.safe_load(Path(schema).read_text())
    validator = jsonschema.Draft202012Validator(spec)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"config key '{_key(e)}': {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


BASELINE_SECTIONS = {"cadm_vanilla": "cadm", "cadm_pets": "cadm", "bcq": "bcq", "cql": "cql", "morel": "morel"}


def baseline_settings(config: dict[str, Any], name: str, env: str) -> dict[str, Any]:
    """Resolved settings of a baseline for one env: ``common``, then ``env.<env>``, then the variant.

    ``name`` is a CaDM variant (``cadm_vanilla``/``cadm_pets``) or an algorithm (``bcq``, ``cql``,
    ``morel``); the result is the keyword arguments of that baseline's config dataclass.
    """
    if name not in BASELINE_SECTIONS:
        raise ConfigError(f"unknown baseline {name!r}; known: {sorted(BASELINE_SECTIONS)}")
    section = config.get("baselines", {}).get(BASELINE_SECTIONS[name], {})
    out = merge(dict(section.get("common", {})), dict(section.get("env", {}).get(env, {})))
    return merge(out, dict(section.get("variants", {}).get(name, {})))


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
