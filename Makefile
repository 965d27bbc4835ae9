# One entry point per task; every target installs what it needs first (idempotent, cached in .venv/ and .tools/).
SHELL := /bin/bash
ENV := source scripts/env.sh &&

.PHONY: install sync lock check test run bench bench-disk evaluate chaos docker-images deploy deploy-stop test-deploy test-long

install:
	bash scripts/install.sh

# Third-party packages from the installed wheels, re-pinned to the offline stand-ins (deterministic).
sync: install
	$(ENV) python scripts/sync_third_party.py && autonomy packages lock

# After editing a dev package: refresh fingerprints and hashes, and the skill's FSM specification.
lock: sync
	$(ENV) autonomy analyse fsm-specs --package packages/valory/skills/smpc_mnist_classifier --update
	$(ENV) autonomy packages lock

# The Olas package checks CI runs (the FSM spec check runs as a test: see tests/test_fsm_specification.py); the synced tree must leave packages.json and every committed file unchanged.
# check-packages relies on env.sh putting the repo root on PYTHONPATH, so ./packages shadows the copy open-autonomy installs in site-packages.
check: sync
	git diff --exit-code -- packages/
	$(ENV) autonomy packages lock --check
	$(ENV) autonomy analyse docstrings
	$(ENV) autonomy analyse handlers -h abci -h http -h contract_api -h ledger_api -h signing -h tendermint -h ipfs -i abstract_abci
	$(ENV) autonomy check-packages

test: check
	$(ENV) python -m pytest

run: sync
	$(ENV) python scripts/run_service.py

# Docker: the engine (started if none runs), compose v2 and every image the compose deployment runs, built here.
docker-images: sync
	bash scripts/install.sh docker && bash scripts/docker_engine.sh start && bash scripts/docker_images.sh

# The service as Olas users deploy it: autonomy deploy build + docker compose up; Ctrl-C or `make deploy-stop` tears down.
deploy: docker-images
	$(ENV) python scripts/deploy_service.py

deploy-stop:
	$(ENV) python scripts/deploy_service.py --stop

# Only the compose deployment's end-to-end test (tests_docker/, also the last part of `make test`).
test-deploy: docker-images
	$(ENV) python -m pytest tests_docker

# Opt-in (not in `make test`: service runs longer than CI's budget allows): late registration, far-behind catch-up.
test-long: check
	$(ENV) python -m pytest tests_long

# Evaluate a run's accepted models: make evaluate [RUN=runs/<ts>] [DATA_DIR=<IDX folder>] (default: the latest run).
evaluate: install
	$(ENV) python scripts/evaluate_run.py $(if $(RUN),--run $(RUN)) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

bench: sync
	$(ENV) python scripts/bench_ckks.py && python scripts/bench_keygen.py && python scripts/bench_learning.py && python scripts/bench_service.py && python scripts/bench_zk.py

# The service under random faults (agent/node kill -9, kubo outage, junk transactions): make chaos [PERIODS=50] [FAULTS=20].
chaos: sync
	$(ENV) python scripts/chaos.py --periods $(or $(PERIODS),50) --faults $(or $(FAULTS),20)

# Disk use of a long run (kubo, agents' folders and blob copies, Tendermint) per period: JSON, table and PNG in the run folder.
bench-disk: sync
	$(ENV) python scripts/bench_disk.py --periods $(or $(PERIODS),100)
