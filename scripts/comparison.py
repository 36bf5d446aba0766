"""Rule `comparison`: our cells beside the paper's with verdicts, summary, Markdown + HTML, intervals."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from pathlib import Path

import pandas as pd

from persim.provenance import write_sidecar
from persim.reporting.claims import claims_markdown, judge_claims
from persim.reporting.compare import compare, load_results, summarize, to_markdown
from persim.reporting.html import comparison_html
from persim.reporting.intervals import interval_table, seed_runs
from persim.reporting.labels import ENV_LABELS
from persim.reporting.scope import Scope, policy_notes, table_notes
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s, out = run.settings, snakemake.output  # noqa: F821
    prediction = load_results(snakemake.input.prediction)  # noqa: F821
    reward = load_results(snakemake.input.reward)  # noqa: F821
    extended = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in snakemake.input.extended],  # noqa: F821
                         ignore_index=True)
    cmp = compare(prediction, reward, extended=extended)
    claims = judge_claims(cmp, pd.concat([pd.read_csv(p) for p in snakemake.input.factor_r2], ignore_index=True))  # noqa: F821
    summary = summarize(cmp, claims)
    runs = seed_runs(reward.fillna({"dataset": ""}))
    intervals = interval_table(runs, ["env", "dataset", "method", "agent"], "seed_return", "seed",
                               n_boot=s["n_boot"], alpha=s["alpha"], seed=s["seed"])
    cmp.to_csv(out.cells, index=False)
    claims.to_csv(out.claims, index=False)
    summary.to_csv(out.summary, index=False)
    intervals.to_csv(out.intervals, index=False)
    not_run = [label for env, label in ENV_LABELS.items() if env not in s.get("envs", ENV_LABELS)]
    title = (f"Reproduction vs. paper ({s['run_name']} profile, {s['n_agents']} training agents per env"
             + (f"; {', '.join(not_run)} not run (config envs)" if not_run else "") + ")")
    policies = pd.read_csv(snakemake.input.policy_returns)  # noqa: F821
    scope = Scope(s.get("scale_note", ""), table_notes(s.get("scarcity"), s["envs"]), policy_notes(policies))
    Path(out.markdown).write_text(to_markdown(cmp, summary, title=title, scope=scope) + "\n" + claims_markdown(claims))
    Path(out.html).write_text(comparison_html(cmp, summary, intervals, title=title, claims=claims, policies=policies,
                                              scope=scope))
    run.logger.info("claims:\n%s", claims[["claim", "n_units", "paper_share", "ours_share", "verdict"]].to_string())
    overall = summary[summary["table"].astype(str) == "overall"].iloc[0]
    run.logger.info("overall: %s of %s compared cells reproduced (%s missing)", overall.get("reproduced"),
                    overall.get("n_compared"), overall.get("missing"))
    for path in (out.cells, out.claims, out.summary, out.intervals):
        write_sidecar(path, run.provenance())
