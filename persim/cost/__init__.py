"""Cost estimate of a profile before it runs: ``python -m persim.cost --configfile config/<profile>.yaml``.

* :mod:`persim.cost.jobs` — the profile's jobs, their settings and dependencies (Snakemake's own DAG);
* :mod:`persim.cost.work` — each job's work in units of a few kernels (env steps, epochs, updates,
  planner steps), from its settings;
* :mod:`persim.cost.calibrate` — seconds per unit of each kernel on this machine, measured by running
  the package's own code at reduced size (a short calibration run, cached);
* :mod:`persim.cost.schedule` — wall time of the jobs on N cores (and G GPUs) by list scheduling;
* :mod:`persim.cost.estimate` — each job's seconds, stages, wall time, and the seconds a finished
  run's benchmark files recorded beside the estimate.
"""
