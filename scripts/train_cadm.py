"""Rule `train_cadm`: fit Vanilla or PE-TS CaDM (context-aware dynamics) on one dataset, offline."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from persim.baselines.cadm import CaDMConfig, train_cadm
from persim.config import build_dataclass
from persim.data import load_dataset
from persim.device import resolve_device
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    device = resolve_device(s["device"])
    cfg = build_dataclass(CaDMConfig, s["model"], s["config_key"])
    ds = load_dataset(snakemake.input.dataset, env=s["env"])  # noqa: F821
    run.logger.info("%s: %d transitions, device %s, %s", s["method"], ds.n_transitions, device, cfg)
    sim, history = train_cadm(ds, cfg, seed=s["seed"], device=device, logger=run.logger)
    prov = run.provenance(device)
    sim.meta["provenance"] = prov
    sim.save(snakemake.output.model)  # noqa: F821
    write_sidecar(snakemake.output.model, prov)  # noqa: F821
    history.to_csv(snakemake.output.history, index=False)  # noqa: F821
