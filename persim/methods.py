"""The method registry: one :class:`MethodSpec` row per method of the paper's tables.

Everything else about methods is derived from these rows: the Snakemake wildcard constraints,
the labels in tables and the comparison, the config schema's method enums, the settings each
training job gets (resolved and checked against the method's config dataclass when the workflow
is parsed), the loaders, and the code hash that reruns a method's jobs when its module changes.

Two kinds exist (:mod:`persim.protocols`). *Simulators* write ``model.pt`` and are scored by both
evaluations (prediction: Tables 6-8; MPC reward: Tables 9-11). *Policies* write ``policy.pt`` (a
policy set, scope P or A) and act directly in the true env (reward only).

A new method is its module (``make_config``, ``train``, ``load``: see :mod:`persim.protocols`),
its config dataclass and one row here. Modules are named by string and imported only on use, so
that importing the registry pulls in no method's code.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping

from persim.config import ConfigError, baseline_settings, persim_settings

SIMULATOR, POLICY = "simulator", "policy"
Resolver = Callable[..., dict]  # (config, env, MethodSpec, origins=False) -> settings (or their config keys)


@dataclass(frozen=True)
class MethodSpec:
    """One method of the paper's tables.

    Attributes:
        name: wildcard value and path component (``results/<env>/<dataset>/<name>/``).
        label: the paper's label (``"PE-TS CaDM"``).
        kind: :data:`SIMULATOR` or :data:`POLICY`.
        module: dotted module with ``make_config``, ``train`` and ``load``.
        config_key: where its settings live in the config (named in errors).
        resolve: ``(config, env, spec) -> settings`` (the keyword arguments of its config dataclass).
        options: fixed keyword arguments of the module's ``make_config`` / ``train`` (algo, scope).
        uses_rank_cv: its training takes the rank chosen by ``rank_cv`` when ``persim.rank_source: cv``.
        synthetic_from: the simulator method whose synthetic trajectories (``persim.augmentation``) are
            added to each test agent's data before training (Table 3's PerSim-BCQ-5 / -CQL-5); such a
            method belongs to Table 3 only, not to Tables 2 and 9-11.
    """

    name: str
    label: str
    kind: str
    module: str
    config_key: str
    resolve: Resolver
    options: Mapping[str, Any] = field(default_factory=dict)
    uses_rank_cv: bool = False
    synthetic_from: str | None = None

    def import_module(self) -> ModuleType:
        return importlib.import_module(self.module)

    def settings(self, config: Mapping[str, Any], env: str) -> dict[str, Any]:
        """This method's settings for ``env`` as written in (and merged from) the config."""
        return self.resolve(config, env, self)

    def setting_keys(self, config: Mapping[str, Any], env: str) -> dict[str, str]:
        """Where each of :meth:`settings` comes from: field -> full config key."""
        return self.resolve(config, env, self, origins=True)

    def make_config(self, settings: Mapping[str, Any], env: str, episode_steps: int):
        """The method's config dataclass; a bad setting raises ConfigError naming its key."""
        return self.import_module().make_config(dict(settings), env, self.config_key, episode_steps,
                                                **self.options)

    def train(self, dataset, agents, cfg, seed: int, device: str, log) -> tuple[Any, Any]:
        """``(model, history frame | None)``; the model has ``save(path)`` and ``meta``."""
        return self.import_module().train(dataset, agents, cfg, seed, device, log, **self.options)

    def load(self, path: str | Path, device: str = "cpu"):
        """The :class:`~persim.protocols.Simulator` or :class:`~persim.protocols.PolicySet` saved at ``path``."""
        return self.import_module().load(path, device)


def _policy(name: str, label: str, module: str, section: str, synthetic_from: str | None = None,
            **options: Any) -> MethodSpec:
    return MethodSpec(name, label, POLICY, module, f"baselines.{section}", baseline_settings, options,
                      synthetic_from=synthetic_from)


REGISTRY: tuple[MethodSpec, ...] = (
    MethodSpec("persim", "PerSim", SIMULATOR, "persim.models.persim", "persim", persim_settings, uses_rank_cv=True),
    MethodSpec("cadm_vanilla", "Vanilla CaDM", SIMULATOR, "persim.baselines.cadm", "baselines.cadm", baseline_settings,
               {"variant": "vanilla"}),
    MethodSpec("cadm_pets", "PE-TS CaDM", SIMULATOR, "persim.baselines.cadm", "baselines.cadm", baseline_settings,
               {"variant": "pets"}),
    _policy("bcq_p", "BCQ-P", "persim.baselines.offline_rl", "bcq", algo="bcq", scope="p"),
    _policy("bcq_a", "BCQ-A", "persim.baselines.offline_rl", "bcq", algo="bcq", scope="a"),
    _policy("cql_p", "CQL-P", "persim.baselines.offline_rl", "cql", algo="cql", scope="p"),
    _policy("cql_a", "CQL-A", "persim.baselines.offline_rl", "cql", algo="cql", scope="a"),
    _policy("morel_p", "MOReL-P", "persim.baselines.morel", "morel", scope="p"),
    _policy("morel_a", "MOReL-A", "persim.baselines.morel", "morel", scope="a"),
    # Table 3: BCQ-A / CQL-A on each test agent's trajectory plus PerSim's synthetic ones (App. F.4)
    _policy("persim_bcq_5", "PerSim-BCQ-5", "persim.baselines.offline_rl", "bcq", synthetic_from="persim",
            algo="bcq", scope="a"),
    _policy("persim_cql_5", "PerSim-CQL-5", "persim.baselines.offline_rl", "cql", synthetic_from="persim",
            algo="cql", scope="a"),
)
METHODS: dict[str, MethodSpec] = {m.name: m for m in REGISTRY}
SIMULATOR_METHODS: dict[str, str] = {m.name: m.label for m in REGISTRY if m.kind == SIMULATOR}  # name -> label
POLICY_METHODS: dict[str, str] = {m.name: m.label for m in REGISTRY if m.kind == POLICY}
METHOD_LABELS: dict[str, str] = {m.name: m.label for m in REGISTRY}
AUGMENTED_METHODS: dict[str, str] = {m.name: m.label for m in REGISTRY if m.synthetic_from}  # Table 3
TRUE_MPC_LABEL = "True env+MPC"  # the reference row planned on the true dynamics (no learned model)


def get_method(name: str) -> MethodSpec:
    """The registry row ``name``, or a KeyError listing the known names."""
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    return METHODS[name]


def labels(kind: str | None = None) -> tuple[str, ...]:
    """Paper labels in table order, of one kind or all, of the methods of Tables 1-2 and 6-11 (not
    the Table-3 methods trained on synthetic trajectories)."""
    return tuple(m.label for m in REGISTRY if (kind is None or m.kind == kind) and not m.synthetic_from)


def table3_methods(augmented: list[str]) -> list[str]:
    """Table 3's rows for the augmented methods ``augmented``: before each one, the plain methods of its
    config section (BCQ-P, BCQ-A before PerSim-BCQ-5), in registry order."""
    out: list[str] = []
    for name in augmented:
        spec = get_method(name)
        if not spec.synthetic_from:
            raise KeyError(f"method {name!r} is not trained on synthetic trajectories (no synthetic_from)")
        out += [m.name for m in REGISTRY if m.config_key == spec.config_key and not m.synthetic_from] + [name]
    return out


def run_methods(config: Mapping[str, Any]) -> list[str]:
    """Every method a run trains, each once: ``methods.simulators`` and ``methods.policies`` (Tables
    6-11), ``augmentation.methods`` (Table 3), ``unseen_agents.baselines`` (Tables 12-13) and
    ``data_scarcity.methods`` (Tables 14-16)."""
    lists = (config["methods"]["simulators"], config["methods"]["policies"], config["augmentation"]["methods"],
             config["unseen_agents"]["baselines"], config["data_scarcity"]["methods"])
    return list(dict.fromkeys(name for names in lists for name in names))


def check_method_settings(config: Mapping[str, Any], envs, names) -> None:
    """Resolve and build every named method's config for every env; raise one ConfigError listing
    each unknown or invalid setting with its full config key (run when the workflow is parsed,
    before any job starts)."""
    unknown: dict[str, tuple[list[str], list[str]]] = {}  # config key -> (methods, known fields)
    invalid: dict[str, tuple[list[str], list[str]]] = {}  # message -> (methods, envs)
    for name in names:
        spec = get_method(name)
        for env in envs:
            steps = config["episode_steps"][env]
            known = sorted(f.name for f in fields(spec.make_config({}, env, steps)))
            bad = {key for field_name, key in spec.setting_keys(config, env).items() if field_name not in known}
            for key in bad:
                methods = unknown.setdefault(key, ([], known))[0]
                methods += [name] if name not in methods else []
            if not bad:
                try:
                    spec.make_config(spec.settings(config, env), env, steps)
                except ConfigError as exc:
                    where = _invalid_at(str(exc), spec.setting_keys(config, env))
                    methods, envs = invalid.setdefault(f"{exc}{where}", ([], []))
                    methods += [name] if name not in methods else []
                    envs += [env] if env not in envs else []
    errors = [f"config key '{key}': unknown setting of {', '.join(methods)}; known: {known}"
              for key, (methods, known) in sorted(unknown.items())]
    errors += [f"{message} (methods {', '.join(methods)}; envs {', '.join(envs)})"
               for message, (methods, envs) in invalid.items()]
    if errors:
        raise ConfigError("invalid method settings:\n  " + "\n  ".join(errors))


def _invalid_at(message: str, keys: Mapping[str, str]) -> str:
    """`` (set at baselines.cadm.common.epochs)``: the full config keys of the settings (field -> key,
    :meth:`MethodSpec.setting_keys`) whose field names ``message`` mentions; "" when it names none."""
    named = [key for name, key in keys.items() if re.search(rf"\b{re.escape(name)}\b", message)]
    return f" (set at {', '.join(named)})" if named else ""


def load_simulator(method: str, path: str | Path, device: str = "cpu"):
    """Load the simulator that ``method``'s training rule wrote to ``path``."""
    spec = get_method(method)
    if spec.kind != SIMULATOR:
        raise KeyError(f"{method!r} is a {spec.kind} method, not a simulator; simulators: {sorted(SIMULATOR_METHODS)}")
    return spec.load(path, device)


def load_policy_set(method: str, path: str | Path, device: str = "cpu"):
    """Load the policy set a policy method's rule wrote; ``.actor(agent_id)`` gives ``act(obs [B, D])``."""
    spec = get_method(method)
    if spec.kind != POLICY:
        raise KeyError(f"{method!r} is a {spec.kind} method, not a policy; policies: {sorted(POLICY_METHODS)}")
    return spec.load(path, device)
