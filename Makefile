# The two commands of the README: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DATA   ?= ../shared/data
# The parts of the default pipeline (models/defaults/pipeline.yaml) that `make demo` builds when missing, and the
# static sentiment model (the fast tier). Other tiers: `make models-all`.
DEFAULT_MODELS := models/sentiment-tfidf models/sentiment-static models/intent-bitext-oos-minilm models/needs-human-tfidf \
	models/no-reply-minilm
DEFAULT_INDEX := models/index-answered/index.json
# what `triage evaluate` scores on PIT-2015 and the IBM conversations (issue 4): the pair scorer and the IBM index
RETRIEVAL := models/duplicates-pit2015/duplicates.json models/index-ibm-minilm/index.json
DEMO_INPUT := $(DATA)/twcs/spotifycares_requests/support_requests.csv

.PHONY: demo test install lock models models-all pipeline-airline lint bench clean

LOCK   := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	@echo "==> creating $(VENV) and installing triage (torch 2.13.0 CPU first, the rest at the versions of $(LOCK))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# rewrite the lock from what .venv has now (after changing a dependency in pyproject.toml: install it, test, then lock)
lock:
	@test -x $(BIN)/pip || { echo "no $(VENV): run make install first"; exit 1; }
	@{ sed -n '1,3p' $(LOCK); $(BIN)/pip freeze --exclude-editable | grep -v -E '^(torch|triage)=='; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

models/%/config.json: training/%.yaml | $(STAMP)
	@echo "==> training $* (missing) from $<"
	$(BIN)/triage train $< --verbose

models: $(addsuffix /config.json,$(DEFAULT_MODELS)) $(DEFAULT_INDEX) $(RETRIEVAL)

models/duplicates-pit2015/duplicates.json: | $(STAMP)
	@echo "==> training the duplicate pair scorer on PIT-2015 dev (missing)"
	$(BIN)/triage index train-duplicates -o models/duplicates-pit2015

models/index-ibm-minilm/index.json: | $(STAMP)
	@echo "==> indexing the IBM dev conversations (missing)"
	$(BIN)/triage index build --dataset ibm_twitter_customer_care --split dev --keep-handles -o models/index-ibm-minilm

$(DEFAULT_INDEX): | $(STAMP)
	@echo "==> building the index of answered mentions (missing)"
	$(BIN)/python -m triage.answered models/index-answered

models-all: models models/sentiment-minilm/config.json \
	models/airline-sentiment-tfidf/config.json models/airline-sentiment-static/config.json \
	models/airline-sentiment-minilm/config.json

pipeline-airline: models models/complaint-reason-airline-tfidf/config.json models/airline-sentiment-tfidf/config.json

demo: models
	@echo "==> triaging real customer mentions ($(DEMO_INPUT)) with the default pipeline"
	$(BIN)/triage score $(DEMO_INPUT) --id-column tweet_id --pipeline models/defaults -o out/demo_triage.parquet

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check triage tests benchmarks

bench: models-all
	$(BIN)/python benchmarks/sentiment_tiers.py

clean:
	rm -rf out .pytest_cache
