# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: all run test install install-dev migrate lint bench mutants screenshots lighthouse clean messages translations

# `make` alone: the virtualenv and the compiled catalogues, ready to run.
all: install

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.mutants: requirements-mutants.txt requirements-dev.txt requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-mutants.txt
	touch $@ $(VENV)/.dev $(VENV)/.runtime

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Compiled catalogues (.mo) are built from the .po files, never committed (see docs/i18n.md).
PO_FILES := $(wildcard portal/translations/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

portal/translations/%/LC_MESSAGES/messages.mo: portal/translations/%/LC_MESSAGES/messages.po | $(VENV)/.runtime
	$(BIN)/pybabel compile -d portal/translations -l $* -i $< -o $@

translations: $(MO_FILES)

# Extract every marked string into messages.pot and merge it into each language's catalogue.
messages: $(VENV)/.runtime
	$(BIN)/pybabel extract --mapping babel.cfg --keywords _l --keywords N_ --keywords lazy_ngettext:1,2 --no-location --sort-output \
		--project portal -o portal/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete --no-wrap -i portal/translations/messages.pot -d portal/translations

install: $(VENV)/.runtime translations
install-dev: $(VENV)/.dev translations

migrate: install
	$(BIN)/flask db upgrade

run: migrate
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

# Mutation testing of the code listed in setup.cfg [mutmut] only_mutate (slow: not in CI).
# Prints the kill rate and the survivors; equivalent mutants are listed in mutation/equivalent.txt.
MUTANT_JOBS ?= 2
mutants: $(VENV)/.mutants
	env -u PORTAL_TEST_DATABASE_URL -u PORTAL_TEST_REDIS_URL $(BIN)/mutmut run --max-children $(MUTANT_JOBS)
	$(BIN)/python mutation/report.py

bench: install-dev
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# PNGs of every page at phone and desktop size, light and dark, for review (Debian's chromium).
screenshots: install-dev
	$(BIN)/python tools/screenshots.py screenshots

# Lighthouse accessibility, best practices and SEO of the main pages (npm's CLI, cached in
# ~/.cache/portal-lighthouse; Debian's chromium); exits 1 below 100. Slow: not in the test suite.
lighthouse: install-dev
	$(BIN)/python tools/lighthouse.py $(LIGHTHOUSE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache mutants
