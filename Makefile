# vitals.django: every entry point a user or CI needs. Run as root on a Debian 12 controller.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTION_DIR := $(CURDIR)/build/ansible_collections/vitals/django
# The checkout as the collection vitals.django for every tool make runs: a link in the ignored
# build/ (relative, so a moved checkout keeps working), never a committed one.
COLLECTIONS_PATH := $(CURDIR)/build/collections
COLLECTION_LINK := $(COLLECTIONS_PATH)/ansible_collections/vitals/django
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
# Debian packages the controller needs: test hosts (debootstrap, nspawn, nftables),
# loopback servers for integration tests (postgresql, nginx) and the load generator (wrk);
# the health module runs on localhost with Debian's python3 and needs its check libraries;
# prometheus ships promtool, which checks the endpoint's metrics.
HOST_PACKAGES := debootstrap systemd-container nftables iptables iproute2 openssh-client \
	rsync git python3-venv postgresql nginx wrk python3-requests python3-psycopg2 python3-yaml \
	python3-cryptography prometheus
# Scenarios in the order make test runs them; default runs once per Debian release.
MOLECULE_SCENARIOS ?= default backup health rolling wheelhouse
MOLECULE_RELEASES ?= trixie bookworm

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_PATH)
export PATH := $(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(BIN)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(@D) && ln -sfn ../../../.. $@

.PHONY: venv
venv: $(BIN)/.installed $(COLLECTION_LINK) ## Create .venv from the pinned requirements and build/collections

.PHONY: host-packages
host-packages: ## Install the Debian packages the tests and the demo need
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

.PHONY: pin
pin: ## Re-pin requirements.txt from requirements.in
	rm -rf build/pin && python3 -m venv build/pin && build/pin/bin/pip install --quiet -r requirements.in
	{ echo '# Pinned from requirements.in with `pip freeze`; regenerate with `make pin`.'; build/pin/bin/pip freeze; } > requirements.txt

.PHONY: lint
# ansible-lint reads the example vault too, with its documented password.
lint: venv ## yamllint, ruff, ansible-lint (production profile) and the changelog
	yamllint --strict .
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	ruff check .
	ruff format --check .
	ANSIBLE_VAULT_PASSWORD_FILE=tests/example-vault-password ansible-lint

# ansible-test wants the collection at .../ansible_collections/vitals/django: copy the
# files git knows (tracked or new, not ignored) there.
.PHONY: collection-tree
collection-tree:
	rm -rf $(COLLECTION_DIR) && mkdir -p $(COLLECTION_DIR)
	git ls-files -z --cached --others --exclude-standard \
		| xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
		| tar --null -T - -cf - | tar -xf - -C $(COLLECTION_DIR)
	# ansible-test lists its targets with git; without a repository it skips them all.
	cd $(COLLECTION_DIR) && git init --quiet && git add --all

PIP_BOOTSTRAP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
$(PIP_BOOTSTRAP): tools/get_pip_offline.py
	mkdir -p $(@D)
	$(BIN)/pip download --quiet --no-deps --dest $(@D) pip==24.2
	cp $< $@

.PHONY: sanity
sanity: venv collection-tree $(PIP_BOOTSTRAP) ## ansible-test sanity --python 3.11 (no ignore files)
	@if ls tests/sanity/ignore-*.txt >/dev/null 2>&1; then echo "ignore files are not allowed"; exit 1; fi
	cd $(COLLECTION_DIR) && ansible-test sanity --python 3.11 --requirements --color no

.PHONY: unit
unit: venv ## Unit tests (pytest, no host)
	pytest tests/unit

.PHONY: integration
integration: venv host-packages ## Integration tests against real servers on loopback
	pytest tests/integration

.PHONY: build
build: venv ## Build vitals-django-<version>.tar.gz
	ansible-galaxy collection build --force --output-path build/ .

.PHONY: molecule
molecule: venv host-packages ## Every Molecule scenario on real test hosts
	@for s in $(MOLECULE_SCENARIOS); do \
		if [ "$$s" = default ]; then releases="$(MOLECULE_RELEASES)"; else releases=trixie; fi; \
		for r in $$releases; do \
			echo "=== molecule test -s $$s ($$r)"; \
			log_test=$$([ "$$r" = trixie ] && echo 1 || echo 0); \
			VITALS_TEST_RELEASE=$$r VITALS_SECURITY_LOG_TEST=$$log_test molecule test -s $$s || exit 1; \
		done; \
	done

.PHONY: leak-check
leak-check: venv ## Fail when a test host, bridge, nft table, mount or cgroup is left behind
	pytest -p no:cacheprovider tests/integration/test_no_leftovers.py

.PHONY: package-test
package-test: venv ## Build the tarball, install it into an empty path, use vitals.django.* from outside the repo
	pytest -p no:cacheprovider tests/integration/test_packaging.py

TESTHOSTS := python3 tools/testhosts.py
SANDBOX_INVENTORY := inventories/sandbox/hosts.yml

.PHONY: demo
demo: venv host-packages ## Boot the sandbox host, deploy the whole stack on it and verify it
	$(TESTHOSTS) up --lab sandbox --inventory $(SANDBOX_INVENTORY) --out build/sandbox-hosts.json
	ansible-playbook -i $(SANDBOX_INVENTORY) site.yml
	@addr=$$(python3 -c 'import json; print(json.load(open("build/sandbox-hosts.json"))[0]["address"])'); \
	echo "The sandbox host runs at $$addr (lab sandbox). Look around:"; \
	echo "  ssh -i /var/lib/vitals-testhosts/sandbox/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@$$addr"; \
	echo "  console log: /var/lib/vitals-testhosts/sandbox/console/sandbox.log"; \
	echo "Remove it with: make demo-down"

.PHONY: demo-down
demo-down: ## Power off and remove the sandbox host
	$(TESTHOSTS) down --lab sandbox

.PHONY: hosts-down-all
hosts-down-all: ## Power off and remove every lab of test hosts on this machine
	$(TESTHOSTS) down --all

.PHONY: test
test: venv host-packages lint sanity unit integration molecule leak-check ## Every test: lint, sanity, unit, integration, Molecule, leak check
	@echo "make test: all passed"

.PHONY: bench bench-backup bench-health bench-rolling bench-single-host bench-converge bench-serving bench-report
# Every part runs even when an earlier one misses its target, so the table is always whole;
# converge keeps its converged host for serving (which removes it), instead of a second converge.
# The parts' commands, not $(MAKE) bench-*: make -n runs any recipe line that names $(MAKE).
bench: venv host-packages $(BIN)/.bench-installed ## Every benchmark, one table (bench/results.json, bench/results/)
	@failed=""; since=$$(date +%s); \
	$(BIN)/python bench/health.py || failed="$$failed health"; \
	$(BIN)/python bench/converge.py --keep || failed="$$failed converge"; \
	$(BIN)/python bench/serving.py --reuse || failed="$$failed serving"; \
	$(BIN)/python bench/rolling.py || failed="$$failed rolling"; \
	$(BIN)/python bench/single_host.py || failed="$$failed single-host"; \
	$(BIN)/python bench/backup.py || failed="$$failed backup"; \
	$(BIN)/python bench/report.py --since $$since || failed="$$failed report"; \
	if [ -n "$$failed" ]; then echo "make bench: failed or missed a target:$$failed"; exit 1; fi

bench-report: venv ## The table of the last results (bench/results/*.json -> bench/results.json)
	$(BIN)/python bench/report.py

bench-backup: venv host-packages ## Dump and restore time of the example database with 100,000 rows
	python3 bench/backup.py

bench-health: venv host-packages ## One health task with 20 checks vs. 20 builtin tasks, on a test host
	python3 bench/health.py

# matplotlib for the timeline PNGs: only the benchmark needs it, so it stays out of requirements.txt.
$(BIN)/.bench-installed: bench/requirements.txt $(BIN)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench-rolling: venv host-packages $(BIN)/.bench-installed ## Rolling deploy of 2 app hosts under load: timings, failed requests, timeline PNGs
	$(BIN)/python bench/rolling.py

bench-single-host: venv host-packages ## Deploys on one host under load: failed requests, gaps, p99 in the switch window, memory
	$(BIN)/python bench/single_host.py

bench-converge: venv host-packages ## First site.yml on a fresh all-in-one host vs. a no-op re-run
	$(BIN)/python bench/converge.py

bench-serving: venv host-packages ## nginx vs. gunicorn alone (/ and a static file) and the stack's memory, on a converged host
	$(BIN)/python bench/serving.py

.PHONY: clean
clean: ## Remove build output and caches (not the venv)
	rm -rf build .cache tests/output
