# resnet-lab: install, test, benchmark and reproduce the papers' tables.
PYTHON   ?= python3
PROFILE  ?= paper# paper: the papers' recipe; smoke: tiny nets, a few CPU steps (not comparable)
TABLES   ?= table1 table2 table6# experiment groups under resnet_lab/conf/experiment/
ifeq ($(PROFILE),smoke)
SEEDS    ?= 0
else
SEEDS    ?= 0,1,2,3,4# the papers report statistics over 5 runs
endif
LAUNCHER ?= basic# basic (one run at a time), parallel (joblib, on this machine), slurm (submitit)
RESULTS  ?= results/$(PROFILE)
EXTRA    ?=# more Hydra overrides, e.g. LAUNCHER=parallel EXTRA="hydra.launcher.n_jobs=4"
ACCEPT   ?=# settings the report counts though they are not the row's, e.g. trainer.precision
CONFIG_DIR ?=# a folder of your own rows in experiment/<table>/ (resnet-lab --config-dir)
comma    := ,
empty    :=
space    := $(empty) $(empty)
# Paths reach the recipes' shell as environment variables, never as text in a command line: a
# folder named with a quote or backtick (one a colleague sent) is then a name, not shell code.
# ($ is make's own: a name holding one is given with $$, as in any make variable.)
export RESNET_LAB_CONFIG_DIR := $(strip $(CONFIG_DIR))

.PHONY: help install test lint format bench reproduce-table report gpu-wheels gpu-cifar
.DEFAULT_GOAL := help

help:  # printed by make itself: a value with a quote, $ or backtick goes to no shell
	$(info make install          the lab and its test tools (pip install -e .[dev]))
	$(info make test             the test suite; make lint: ruff; make format: ruff's mends)
	$(info make bench            plain PyTorch loop vs the lab's trainer (EXTRA: its options))
	$(info make reproduce-table  train every row of TABLES for SEEDS into RESULTS, then report)
	$(info make report           the report of the runs in RESULTS)
	$(info $(space) PROFILE=$(PROFILE) TABLES='$(TABLES)' SEEDS=$(SEEDS) RESULTS=$(RESULTS))
	$(info $(space) LAUNCHER=$(LAUNCHER) EXTRA='$(EXTRA)' ACCEPT='$(ACCEPT)' CONFIG_DIR='$(CONFIG_DIR)')
	$(info $(space) PYTHON=$(PYTHON): the Python of install, test, bench and the lab's tools)
	$(info make gpu-wheels, make gpu-cifar PART=1|2|3: what a GPU session carries (docs/speed.md))
	@:

install:
	$(PYTHON) -m pip install -e ".[dev]"

test:
	$(PYTHON) -m pytest -q -n auto

lint:
	ruff check . && ruff format --check .

format:
	ruff format . && ruff check --fix .

bench:
	$(PYTHON) -m resnet_lab.bench $(EXTRA)

# For a session lent a GPU (benchmarks/gpu_session.sh): what the device tool carries in .carry/.
# The GPU machine has torch, tensorboard, tqdm and matplotlib but not Hydra, and cannot download.
# The GPU machine gets the work tree without .git: the commit it is, for result.json and the
# benchmark's JSON (benchmarks/gpu_session.sh exports it as RESNET_LAB_GIT_COMMIT).
CARRY_COMMIT = mkdir -p .carry && { git rev-parse HEAD | tr -d '\n'; \
	  test -z "$$(git status --porcelain --untracked-files=no)" || printf -- -dirty; echo; } \
	  > .carry/git_commit

gpu-wheels:
	$(PYTHON) -m pip wheel -q --no-deps -w .carry/wheels "hydra-core==1.3.*" "omegaconf==2.3.*" \
	  "antlr4-python3-runtime==4.9.*"
	@$(CARRY_COMMIT)

# PART=1, 2, 3: two of the six CIFAR-10 binary files per call (a call carries at most 64 MiB).
CIFAR_SRC ?= ../shared/data/cifar-10-batches-bin
gpu-cifar: export CIFAR_SRC := $(CIFAR_SRC)
gpu-cifar:
	@case "$(PART)" in \
	  1) files="data_batch_1.bin data_batch_2.bin batches.meta.txt";; \
	  2) files="data_batch_3.bin data_batch_4.bin";; \
	  3) files="data_batch_5.bin test_batch.bin";; \
	  *) echo "PART=1, 2 or 3" >&2; exit 2;; \
	esac; test -d "$$CIFAR_SRC" || { echo "no $$CIFAR_SRC: set CIFAR_SRC=DIR" >&2; exit 2; }; \
	for f in $$files; do test -f "$$CIFAR_SRC/$$f" || { echo "CIFAR_SRC=$$CIFAR_SRC lacks" \
	  "$$f: give the folder of the binary version (cifar-10-batches-bin)" >&2; exit 2; }; done; \
	rm -rf .carry/cifar && mkdir -p .carry/cifar && $(CARRY_COMMIT) && \
	for f in $$files; do cp "$$CIFAR_SRC/$$f" .carry/cifar/; done && ls -l .carry/cifar

# Runs every row of $(TABLES) for $(SEEDS) into $(RESULTS)/<table>/<row>/seed<N> (experiment.name
# is <table>/<row>, e.g. table1/original), then the report.
# Finished runs are skipped and interrupted ones resume (resume=true), so re-running after a crash
# loses nothing. A table with a failed run does not stop the others or the report (the target
# still exits non-zero); Ctrl-C stops it. A misspelt table or profile stops it before any run,
# and a command resnet-lab refuses (exit 2: a mistake in EXTRA or CONFIG_DIR) before the next.
export RESNET_LAB_CONF := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))resnet_lab/conf
EXPERIMENTS = "$$RESNET_LAB_CONF/experiment"
PROFILES    = "$$RESNET_LAB_CONF/profile"
reproduce-table: export SEEDS_GIVEN := $(SEEDS)
reproduce-table:
	@[ -n "$(strip $(TABLES))" ] || { echo "TABLES is empty: give the tables to train, e.g." \
	  "TABLES=table1" >&2; exit 2; }
	@[ -n "$(strip $(RESULTS))" ] || { echo "RESULTS is empty: give the folder the runs go" \
	  "into, e.g. RESULTS=results/paper" >&2; exit 2; }
	@[ -z "$(word 2,$(RESULTS))" ] || { echo "RESULTS=$(RESULTS): the runs go into one folder," \
	  "whose path has no space (make report reads several, space-separated)" >&2; exit 2; }
	@case "$(RESULTS)" in "~"*) echo "RESULTS=$(RESULTS): make leaves '~' to Hydra, which takes" \
	  "it for a folder's name: write RESULTS=$(HOME)$(patsubst ~%,%,$(RESULTS))" >&2; exit 2;; esac
	@[ -z "$$RESNET_LAB_CONFIG_DIR" ] || [ -d $(OWN_ROWS) ] || [ -d $(OWN_PROFILES) ] || { \
	  case $$RESNET_LAB_CONFIG_DIR in /*) at=;; *) at=$$(pwd)/;; esac; echo "CONFIG_DIR=$$RESNET_LAB_CONFIG_DIR" \
	  "($$at$$RESNET_LAB_CONFIG_DIR) holds no experiment/ folder of rows nor profile/ folder" >&2; exit 2; }
	@for table in $(TABLES); do [ -d $(EXPERIMENTS)/"$$table" ] $(OWN_TABLE) || { \
	  echo "unknown table $$table (TABLES): choose from" $$(ls $(EXPERIMENTS)) $(OWN_TABLES) \
	  >&2; exit 2; }; done
	@[ -f $(PROFILES)/"$(PROFILE).yaml" ] $(OWN_PROFILE) || { echo "unknown PROFILE $(PROFILE):" \
	  "choose from" $$(for d in $(PROFILES) $(OWN_PROFILES); do ls "$$d" 2>/dev/null; done \
	  | sed -n 's/[.]yaml$$//p' | sort -u) >&2; exit 2; }
	@printf '%s\n' "$$SEEDS_GIVEN" | grep -Eqx '[0-9]+(,[0-9]+)*' || { echo "SEEDS=$$SEEDS_GIVEN:" \
	  "give the seeds as comma-separated integers, e.g. SEEDS=0,1,2" >&2; exit 2; }
	@# what the target sets itself: given in EXTRA too, the last one won (EXTRA=seed=5: every
	@# job seed 5, reported as the SEEDS' runs missing)
	@for word in $(EXTRA); do key=$${word%%=*}; key=$${key#+}; key=$${key#+}; \
	  case $$key in seed) v=SEEDS;; profile) v=PROFILE;; hydra.sweep.dir) v=RESULTS;; \
	    hydra/launcher) v=LAUNCHER;; experiment|experiment/*) v=TABLES;; \
	    resume|hydra.sweep.subdir) v=;; *) continue;; esac; \
	  echo "EXTRA: $$word: the target sets $$key itself$${v:+ (from $$v)}" >&2; exit 2; done
	@$(REPORT) --check
	@failed=0; for table in $(TABLES); do \
	  echo "== $$table ($(PROFILE), seeds $(SEED_LIST), launcher $(LAUNCHER))"; \
	  RESNET_LAB_CONTINUE="run make reproduce-table again with the same variables (finished runs are skipped)" \
	  $(LAB) --multirun $(CONFIG_FLAG) "+experiment/$$table=glob(*)" seed=$(SEED_LIST) profile=$(PROFILE) resume=true \
	    hydra/launcher=$(LAUNCHER) hydra.sweep.dir=$(RESULTS) \
	    'hydra.sweep.subdir=$${experiment.name}/seed$${seed}' $(EXTRA); rc=$$?; \
	  if [ $$rc -ge 128 ]; then exit $$rc; fi; \
	  if [ $$rc -eq 2 ]; then echo "== $$table: the command was refused (above), no run" \
	    "started; the other tables and the report would be refused alike" >&2; exit 2; fi; \
	  if [ $$rc -ne 0 ]; then failed=$$rc; echo "== $$table: a run failed or was refused" \
	    "(exit $$rc, above)" >&2; fi; \
	done; \
	[ -d "$(RESULTS)" ] || { echo "== no table started a run: nothing to report in" \
	  "$(RESULTS)" >&2; exit 1; }; \
	$(REPORT) && exit $$failed

# the lab of $(PYTHON), which make install installs into, whatever PATH finds first
LAB = $(PYTHON) -m resnet_lab
SEED_LIST = $(subst $(space),$(comma),$(sort $(subst $(comma), ,$(SEEDS))))# each seed once
REPORT = $(PYTHON) -m resnet_lab.report --results $(RESULTS) --seed-list $(SEED_LIST) $(PROFILE_FLAG) \
  --tables $(subst $(space),$(comma),$(strip $(TABLES)))$(if $(strip $(ACCEPT)), --accept $(ACCEPT)) \
  $(CONFIG_FLAG)
# reproduce-table reports the profile it trained; make report the one given, else the one found
PROFILE_FLAG = $(if $(or $(filter reproduce-table,$(MAKECMDGOALS)),$(filter-out file,$(origin PROFILE))),--profile $(PROFILE))
CONFIG_FLAG = $(if $(strip $(CONFIG_DIR)),--config-dir "$$RESNET_LAB_CONFIG_DIR")
OWN_ROWS = "$$RESNET_LAB_CONFIG_DIR/experiment"
OWN_TABLE = $(if $(strip $(CONFIG_DIR)),|| [ -d $(OWN_ROWS)/"$$table" ])
OWN_TABLES = $(if $(strip $(CONFIG_DIR)),$$(ls $(OWN_ROWS) 2>/dev/null))
OWN_PROFILES = $(if $(strip $(CONFIG_DIR)),"$$RESNET_LAB_CONFIG_DIR/profile")
OWN_PROFILE = $(if $(OWN_PROFILES),|| [ -f $(OWN_PROFILES)/"$(PROFILE).yaml" ])
report:
	@for r in $(RESULTS); do case $$r in /*) at=$$r;; *) at=$$(pwd)/$$r;; esac; \
	  [ -d "$$r" ] || { echo "RESULTS: $$r ($$at) does not exist: make reproduce-table writes" \
	  "its runs there; give RESULTS=DIR" >&2; exit 2; }; done
	$(REPORT)
