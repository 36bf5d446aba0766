"""Rules `train_simulator` and `train_policy_set`: train one registered method on one dataset.

The method's registry row (persim/methods.py) builds its config dataclass from the resolved
settings, trains it and saves what it trained (``model.pt`` of a simulator with its per-epoch
``history.csv``, or ``policy.pt`` of a policy set). A method that takes PerSim's cross-validated
rank gets it from ``rank_cv.csv`` here, and the record says which rank it trained with.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from dataclasses import asdict

import pandas as pd

from persim.augmentation import concat_datasets
from persim.data import load_dataset
from persim.device import resolve_device
from persim.methods import get_method
from persim.models.rank_selection import selected_rank
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s, inp, out = run.settings, snakemake.input, snakemake.output  # noqa: F821
    spec = get_method(s["method"])
    device = resolve_device(s["device"])
    settings = dict(s["model"])
    if inp.get("rank_cv"):
        settings["rank"] = selected_rank(inp.rank_cv[0])
        run.logger.info("rank %d chosen by cross-validation (%s)", settings["rank"], inp.rank_cv[0])
    cfg = spec.make_config(settings, s["env"], s["max_episode_steps"])
    agents = pd.read_parquet(inp.agents)
    ds = load_dataset(inp.dataset, env=s["env"], n_agents=len(agents))
    if inp.get("synthetic"):  # Table 3: each test agent's own trajectory plus the simulator's synthetic ones
        synthetic = load_dataset(inp.synthetic[0], env=s["env"], n_agents=len(agents))
        run.logger.info("adding %d synthetic transitions of %s (%s)", synthetic.n_transitions,
                        synthetic.meta.get("simulator"), inp.synthetic[0])
        ds = concat_datasets(ds, synthetic)
    run.logger.info("%s (%s): %d transitions, %d agents, device %s, %s", spec.label, spec.name, ds.n_transitions,
                    len(agents), device, cfg)
    model, history = spec.train(ds, agents, cfg, s["seed"], device, run.logger)
    prov = run.provenance(device, trained_with=asdict(cfg))  # the config actually used (e.g. the CV rank)
    model.meta["provenance"] = prov
    model.save(out.model)
    write_sidecar(out.model, prov)
    if hasattr(out, "history"):  # simulators' rule declares history.csv (policy sets' rule does not)
        if history is None:  # a simulator without per-epoch losses: its history.csv is a header only
            run.logger.info("%s returned no training history: %s has a header only", spec.name, out.history)
            history = pd.DataFrame({"epoch": []})
        history.to_csv(out.history, index=False)
