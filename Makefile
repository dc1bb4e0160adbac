# pbflow: `make run` to serve with demo data, `make test` to run the checks.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
FLASK   := $(BIN)/flask --app app
PYBABEL := $(BIN)/pybabel
CATALOGS := pbflow/translations
HOST    ?= 127.0.0.1
PORT    ?= 5000

.PHONY: install run serve test lint format check bench clean translations messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Front-end libraries from npm (package-lock.json), copied into pbflow/static/vendor/ so
## every asset is served locally (no CDN): mermaid draws the state diagrams, Chart.js the
## supervision charts; and the CJK font the PDF documents embed (Noto Serif SC, SIL Open Font
## License), copied into pbflow/documents/fonts/; swagger-ui-dist draws the API reference page;
## axe-core (tests only) checks the pages' accessibility, copied into tests/ui/vendor/.
VENDOR  := pbflow/static/vendor/mermaid.min.js pbflow/static/vendor/chart.umd.min.js pbflow/documents/fonts/NotoSerifSC_400Regular.ttf pbflow/static/vendor/swagger-ui-bundle.js tests/ui/vendor/axe.min.js

$(VENDOR) &: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	npm run vendor

install: $(STAMP) $(VENDOR) translations

## Compile the translation catalogs (.po -> .mo). The .mo files are committed too, so a
## checkout runs without this step; tests/test_i18n.py fails if they fall behind the .po.
translations: $(STAMP)
	$(PYBABEL) compile -d $(CATALOGS)

## After changing UI text: re-extract msgids and merge them into the catalogs; then translate
## the new entries of pbflow/translations/zh/LC_MESSAGES/messages.po and run `make translations`.
messages: $(STAMP)
	$(PYBABEL) extract -F babel.cfg -k _l -k lazy_gettext --sort-output --no-location -o $(CATALOGS)/messages.pot .
	$(PYBABEL) update --no-fuzzy-matching --ignore-obsolete -i $(CATALOGS)/messages.pot -d $(CATALOGS)

## Serve on http://127.0.0.1:5000 with demo data created on first start.
run: install
	$(FLASK) pbflow workflows check
	$(FLASK) pbflow init --demo
	$(FLASK) run --host $(HOST) --port $(PORT)

## Production-style server (gunicorn, several workers); set PBFLOW_DATABASE_URL first. The access
## log (standard output) follows pbflow/access_log.py: no client details, no opinion-box lines.
## With PBFLOW_OWNER_DATABASE_URL (the tables' owner, README "Production"), the migrations and
## the GRANTs for APP_ROLE run as the owner, and gunicorn connects as PBFLOW_DATABASE_URL's role.
APP_ROLE ?= pbflow_app
serve: install
	PBFLOW_DATABASE_URL="$${PBFLOW_OWNER_DATABASE_URL:-$$PBFLOW_DATABASE_URL}" $(FLASK) pbflow init
	if [ -n "$$PBFLOW_OWNER_DATABASE_URL" ]; then \
	  PBFLOW_DATABASE_URL="$$PBFLOW_OWNER_DATABASE_URL" $(FLASK) pbflow audit grants $(APP_ROLE) --apply; fi
	$(BIN)/gunicorn -c python:pbflow.gunicorn_conf --workers 4 --bind $(HOST):$(PORT) app:app

check: install
	$(FLASK) pbflow workflows check
	$(BIN)/python -m ruff check .

## Lint, workflow check, then the test suite (SQLite; PostgreSQL too when
## PBFLOW_TEST_DATABASE_URL is set).
## The suite runs in parallel (pytest-xdist), one worker per CPU up to four; every worker
## builds its own databases, so the workers share nothing. TEST_WORKERS=0 runs it in one process.
## worksteal: a worker that runs out takes half of another's remaining tests (the long ones,
## marked slow or browser, are collected first: tests/conftest.py).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
test: check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

format: install
	$(BIN)/python -m ruff format .
	$(BIN)/python -m ruff check --fix .

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
