# Two commands do all set-up on a fresh machine (Python 3.11 required):
#   make quick   # create .venv, install, run the whole pipeline at reduced scale (config/quick.yaml)
#   make test    # create .venv, install, run the test suite (what CI runs)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
SNAKEMAKE_ARGS ?=
# 1: jobs run in forks of a local server that has torch, d3rlpy & co. imported (persim/jobserver.py;
# saves 3-10 s of imports per job); 0: every job is its own fresh Python, as on a cluster.
JOB_SERVER ?= 1
# A subset of the environments, e.g. make quick ENVS="mountaincar cartpole" (the tables of the others
# are left out; empty: config's envs, all three). Passed to snakemake and persim.cost as --config envs=[...].
ENVS ?=
comma := ,
empty :=
space := $(empty) $(empty)
ENVS_CONFIG := $(if $(strip $(ENVS)),--config 'envs=[$(subst $(space),$(comma),$(strip $(ENVS)))]')
# Config files laid over the profile, in order (config/overlays/, or your own). One that changes what the
# profile's jobs compute sets its own outdir (its results beside the profile's); one that only adds experiments
# keeps the profile's and reuses its results (config/overlays/scarcity-all-n.yaml), e.g.
#   make quick OVERLAY=config/overlays/mountaincar-200x50.yaml ENVS=mountaincar
OVERLAY ?=

.PHONY: setup quick smoke paper-dry-run check-config cost test gpu-check slurm-test report lint clean-smoke

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { \
	  echo "error: '$(PYTHON)' is not Python 3.11, which this project needs (pinned torch==2.13.0 and the rest); install python3.11 or run: make PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade-strategy only-if-needed torch==2.13.0
	$(BIN)/pip install -e '.[test,slurm]'
	touch $@

setup: $(VENV)/.installed

quick: setup
	$(BIN)/python -m persim.config config/quick.yaml $(OVERLAY)
	PERSIM_JOB_SERVER=$(JOB_SERVER) $(BIN)/snakemake --cores $(CORES) --configfile config/quick.yaml $(OVERLAY) $(ENVS_CONFIG) $(SNAKEMAKE_ARGS)

smoke: setup
	$(BIN)/python -m persim.config config/smoke.yaml
	PERSIM_JOB_SERVER=$(JOB_SERVER) $(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml $(ENVS_CONFIG) $(SNAKEMAKE_ARGS)

# Remove the smoke profile's outputs (results/smoke) so the next `make smoke` builds it from nothing.
clean-smoke:
	rm -rf results/smoke

paper-dry-run: setup
	$(BIN)/python -m persim.config config/config.yaml
	$(BIN)/snakemake -n --configfile config/config.yaml $(SNAKEMAKE_ARGS)

# Check a config file (YAML syntax with line numbers, schema, every method's settings, then the checks that
# run where Snakemake parses the workflow): make check-config CONFIG=my.yaml
check-config: setup
	$(BIN)/python -m persim.config_check $(CONFIG) $(OVERLAY)

# Estimated wall time of a profile before running it (a short calibration run on this machine, cached):
#   make cost PROFILE=quick [CORES=2] [GPUS=1]     (PROFILE: quick, smoke, paper = config/config.yaml, or a path)
PROFILE ?= quick
GPUS ?= 0
PROFILE_FILE := $(if $(filter paper config,$(PROFILE)),config/config.yaml,$(if $(filter %.yaml,$(PROFILE)),$(PROFILE),config/$(PROFILE).yaml))
cost: setup
	@test -f $(PROFILE_FILE) || { echo "error: PROFILE=$(PROFILE): no config file $(PROFILE_FILE) (use quick, smoke, paper or a path to a .yaml)" >&2; exit 1; }
	PERSIM_JOB_SERVER=$(JOB_SERVER) $(BIN)/python -m persim.cost --configfile $(PROFILE_FILE) $(OVERLAY) --cores $(CORES) --gpus $(GPUS) $(ENVS_CONFIG)

test: setup
	$(BIN)/python -m pytest -q -rs --durations=10

# On a machine with a CUDA GPU: the CUDA tests, the benchmark on the GPU and the smoke profile with
# device: cuda (python -m persim.gpu_check; < 8 min). Refuses to start without CUDA.
gpu-check: setup
	$(BIN)/python -m persim.gpu_check

# Real Slurm submission on this machine (root; installs Debian's slurm-wlm + munge if missing), ~1-2 min.
slurm-test: setup
	bash tests/slurm/run_slurm_test.sh

# Self-contained HTML report of the quick run (tables, figures, comparison, provenance), written to
# <outdir>/report.html: results/quick/report.html, or the overlay's outdir with OVERLAY=... (the same
# OVERLAY and ENVS as the run it reports on).
report: setup
	outdir=$$($(BIN)/python -m persim.config_check --outdir config/quick.yaml $(OVERLAY)) && \
	  $(BIN)/snakemake --configfile config/quick.yaml $(OVERLAY) $(ENVS_CONFIG) --report $$outdir/report.html

lint: setup
	$(BIN)/snakemake --lint --configfile config/smoke.yaml
