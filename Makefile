# resnet-lab: install, test, benchmark and reproduce the papers' tables.
PYTHON   ?= python3
PROFILE  ?= paper# paper: the papers' recipe; smoke: tiny nets, a few CPU steps (not comparable)
TABLES   ?= table1 table2 table6# experiment groups under resnet_lab/conf/experiment/
ifeq ($(PROFILE),smoke)
SEEDS    ?= 0
else
SEEDS    ?= 0,1,2,3,4# the papers report statistics over 5 runs
endif
LAUNCHER ?= basic# basic (one run at a time), joblib (parallel on this machine), submitit_slurm
RESULTS  ?= results/$(PROFILE)
EXTRA    ?=# more Hydra overrides, e.g. EXTRA="hydra.launcher.n_jobs=4"
comma    := ,
empty    :=
space    := $(empty) $(empty)

.PHONY: install test lint format bench reproduce-table report

install:
	$(PYTHON) -m pip install -e ".[dev]"

test:
	$(PYTHON) -m pytest -q

lint:
	ruff check . && ruff format --check .

format:
	ruff format . && ruff check --fix .

bench:
	$(PYTHON) -m resnet_lab.bench $(EXTRA)

# Runs every row of $(TABLES) for $(SEEDS) into $(RESULTS)/<row>/seed<N>, then the report.
# Finished runs are skipped and interrupted ones resume (resume=true), so re-running after a crash
# loses nothing.
reproduce-table:
	@for table in $(TABLES); do \
	  echo "== $$table ($(PROFILE), seeds $(SEEDS), launcher $(LAUNCHER))"; \
	  resnet-lab -m "+experiment/$$table=glob(*)" seed=$(SEEDS) profile=$(PROFILE) resume=true \
	    hydra/launcher=$(LAUNCHER) hydra.sweep.dir=$(RESULTS) \
	    'hydra.sweep.subdir=$${experiment.name}/seed$${seed}' $(EXTRA) || exit $$?; \
	done
	$(MAKE) report

report:
	resnet-lab-report --results $(RESULTS) --seeds $(words $(subst $(comma), ,$(SEEDS))) \
	  --tables $(subst $(space),$(comma),$(strip $(TABLES)))
