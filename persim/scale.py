"""What a run changes from the paper profile, said in its tables' captions (never a silently smaller
experiment).

The paper profile is ``config/config.yaml`` (the paper's own settings). For a run's ``config`` (the
merged profile) these functions list, per method, the fields of its built config dataclass that
differ from the same dataclass built from the paper profile, and, per config section, the leaves that
differ: ``"PE-TS CaDM — MountainCar, CartPole: n_particles 5 (20), hidden 4 x 128 (4 x 200), ..."``.
An empty note means the run trains as the paper profile does. Read at workflow parse time (rules pass the notes as
``params:``), so a setting that changes a caption reruns the table that prints it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from persim.config import load_config


def paper_profile() -> dict[str, Any]:
    """The paper profile, ``config/config.yaml`` of this checkout, validated."""
    return load_config()


def _fmt(value: Any) -> str:
    """Compact: ``[128, 128, 128, 128]`` -> ``4 x 128``, floats by ``g``."""
    if isinstance(value, (list, tuple)):
        if len(value) > 1 and all(v == value[0] for v in value):
            return f"{len(value)} x {_fmt(value[0])}"
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _grouped(items: Mapping[str, str]) -> dict[str, list[str]]:
    """``{text: [names with that text]}`` in first-seen order (names sharing one text are said once)."""
    out: dict[str, list[str]] = {}
    for name, text in items.items():
        out.setdefault(text, []).append(name)
    return out


def _differences(ours: Mapping[str, Any], paper: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
    """``"field ours (paper)"`` for every field of ``ours`` that differs from ``paper``, in field order."""
    skip = set(skip)
    return [f"{k} {_fmt(v)} ({_fmt(paper.get(k))})" for k, v in ours.items()
            if k not in skip and v != paper.get(k)]


def method_differences(config: Mapping[str, Any], paper: Mapping[str, Any], method: str, env: str,
                       skip: Iterable[str] = ()) -> list[str]:
    """Fields of ``method``'s config dataclass on ``env`` where the run differs from the paper profile."""
    from persim.methods import get_method

    spec = get_method(method)

    def built(cfg: Mapping[str, Any]) -> dict[str, Any]:
        return asdict(spec.make_config(spec.settings(cfg, env), env, cfg["episode_steps"][env]))

    return _differences(built(config), built(paper), skip)


def training_note(config: Mapping[str, Any], paper: Mapping[str, Any], methods: Sequence[str],
                  envs: Sequence[str], skip: Mapping[str, Iterable[str]] | None = None) -> str:
    """``"Training settings that differ from the paper profile (config/config.yaml; its value in brackets):
    PerSim — HalfCheetah: epochs 10 (300), ... | BCQ-P, PerSim-BCQ-5 — ..."``: per method of ``methods``
    its differing fields, once for
    all ``envs`` where they are the same on each, else per env; ``skip``: fields per method stated
    elsewhere in the caption. "" when every method trains as the paper profile does."""
    from persim.envs import get_spec
    from persim.methods import get_method

    skip = skip or {}
    per_method = {}
    for method in dict.fromkeys(methods):
        per_env = {get_spec(env).label: ", ".join(method_differences(config, paper, method, env,
                                                                       skip.get(method, ()))) for env in envs}
        by_text = {text: labels for text, labels in _grouped(per_env).items() if text}
        if by_text:
            body = (next(iter(by_text)) if len(by_text) == 1 and sum(map(len, by_text.values())) == len(envs)
                    else "; ".join(f"{', '.join(labels)}: {text}" for text, labels in by_text.items()))
            per_method[get_method(method).label] = body
    if not per_method:
        return ""
    return ("Training settings that differ from the paper profile (config/config.yaml; its value in brackets): "
            + " | ".join(f"{', '.join(labels)} — {body}" for body, labels in _grouped(per_method).items()))


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": leaf}`` of a nested dict (lists are leaves)."""
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def section_note(config: Mapping[str, Any], paper: Mapping[str, Any], section: str, label: str) -> str:
    """``"<label> that differ from the paper profile: key ours (paper); ..."`` over the leaves of config
    section ``section`` (dotted path), keys relative to it; "" when none differ."""
    def get(cfg: Mapping[str, Any]) -> Any:
        node: Any = cfg
        for part in section.split("."):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return node

    ours, theirs = _leaves(get(config)), _leaves(get(paper))
    diff = [f"{k} {_fmt(v)} ({_fmt(theirs[k]) if k in theirs else 'unset'})" for k, v in ours.items()
            if k not in theirs or v != theirs[k]]
    diff += [f"{k} unset ({_fmt(v)})" for k, v in theirs.items() if k not in ours]
    return f"{label} that differ from the paper profile ({section}; its value in brackets): " + "; ".join(diff) \
        if diff else ""
