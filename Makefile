# Applied NLP reference pipelines. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-0.4
CLI    := $(VENV)/bin/nlp-pipelines
TASK   ?= ner
DATA   ?=
ARGS   ?=
RUN    ?=
RESUME ?=
INIT   ?=
LABELS ?=
SEEDS  ?=
NAME   ?=
VERSION ?=
SUSPECTS ?=

.DEFAULT_GOAL := help
.PHONY: help install train eval predict zero-shot few-shot chat distill quantize serve test test-all lint compare find-bad-labels review clean test-bench package test-system answers ui-screenshots bench-list

help: ## list the targets
	@grep -E '^[a-zA-Z_%-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'
	@echo "  variables: TASK=ner|intent|joint|toxicity|topics|dialogue  DATA=<dir|file|hub:name>  ARGS=\"section.key=value ...\"  RUN=<run dir>  RESUME=<run dir>  INIT=<run dir>  LABELS=<labels.yaml>"

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check torch==2.13.0   # first and pinned: never a CUDA build
	$(VENV)/bin/pip install -q --disable-pip-version-check -e ".[dev]"   # every extra and the test tools, at once
	touch $@

install: $(STAMP) ## create .venv and install everything (torch 2.13.0 CPU first)

train: $(STAMP) ## train TASK on DATA (default: the shipped sample); RESUME=<run dir> continues a run; INIT=<run dir> continues a finished run on new data
	$(CLI) train --task $(TASK) $(if $(DATA),--data $(DATA)) $(if $(RESUME),--resume $(RESUME)) $(if $(INIT),--init $(INIT)) $(ARGS)

eval: $(STAMP) ## score RUN on DATA (dev/test splits, or the whole file): writes RUN/eval.json and eval.md
	@test -n "$(RUN)" -a -n "$(DATA)" || (echo "usage: make eval RUN=<run dir> DATA=<dir or file>"; exit 2)
	$(CLI) eval $(RUN) $(DATA)

predict: $(STAMP) ## predict with RUN: one text per stdin line, JSON lines out (ARGS="--input x.jsonl --out y.jsonl --resume"; --help)
	@test -n "$(RUN)" || (echo "usage: make predict RUN=<run dir> < texts.txt   (or ARGS=\"--input texts.jsonl --out preds.jsonl\")"; exit 2)
	@$(CLI) predict $(RUN) $(ARGS)

zero-shot: $(STAMP) ## intents with no training examples: DATA by similarity to label texts (LABELS=labels.yaml)
	@test -n "$(DATA)" || (echo "usage: make zero-shot DATA=<intent data> [LABELS=labels.yaml] [ARGS=\"--out preds.jsonl\"]"; exit 2)
	$(CLI) zero-shot --data $(DATA) $(if $(LABELS),--labels $(LABELS)) $(ARGS)

few-shot: $(STAMP) ## intents from a few examples each: contrastive tuning + a head pulled to LABELS texts -> a run dir
	@test -n "$(DATA)" || (echo "usage: make few-shot DATA=<intent data, a few examples per label> [LABELS=labels.yaml]"; exit 2)
	$(CLI) few-shot --data $(DATA) $(if $(LABELS),--labels $(LABELS)) $(ARGS)

chat: $(STAMP) ## talk to a dialogue RUN in the terminal (ARGS="guard=<toxicity run>"); make serve RUN=... serves POST /chat
	@test -n "$(RUN)" || (echo "usage: make chat RUN=<dialogue run dir> [ARGS=\"guard=runs/toxicity-...\"]"; exit 2)
	@$(CLI) chat $(RUN) $(ARGS)

distill: $(STAMP) ## distil RUN (the teacher) into a BiLSTM student (configs/distill_<task>.yaml; DATA, ARGS)
	@test -n "$(RUN)" || (echo "usage: make distill RUN=<teacher run dir> [DATA=...] [ARGS=...]"; exit 2)
	$(CLI) distill $(RUN) $(if $(DATA),--data $(DATA)) $(ARGS)

quantize: $(STAMP) ## ONNX + INT8 of RUN with an accuracy gate (configs/quantize.yaml; ARGS="method=static")
	@test -n "$(RUN)" || (echo "usage: make quantize RUN=<run dir> [ARGS=\"method=static calibration=entropy\"]"; exit 2)
	$(CLI) quantize $(RUN) $(ARGS)

serve: $(STAMP) ## HTTP JSON service for RUN (or RUN/model-dynamic): POST /predict, GET /health, /info
	@test -n "$(RUN)" || (echo "usage: make serve RUN=<run dir or quantised folder> [ARGS=\"port=8080\"]"; exit 2)
	$(CLI) serve $(RUN) $(ARGS)

package: $(STAMP) ## a pip-installable wheel of RUN's model: NAME=my-ner VERSION=1.0 -> dist/ (Predictor.load("my-ner"))
	@test -n "$(RUN)" -a -n "$(NAME)" -a -n "$(VERSION)" || (echo "usage: make package RUN=<run dir> NAME=my-ner VERSION=1.0"; exit 2)
	$(CLI) package $(RUN) --name $(NAME) --version $(VERSION)

test: $(STAMP) ## fast offline tests (tiny models, fixtures, one smoke test on the default encoder), 2 workers
	$(PY) -m pytest -q -n 2 --dist worksteal

test-bench: $(STAMP) ## every benchmarks/ script end to end on tiny data (nothing measured; CI runs it too)
	$(PY) -m pytest -q -n 2 -m bench

test-system: $(STAMP) ## whole-system tests: the wheel in a fresh venv outside the clone, DDP, 2-process prediction, a killed run (~4 min; CI)
	$(PY) -m pytest -q -n 2 --dist worksteal -m system

test-all: $(STAMP) ## all tests, including the slow ones on ../shared/data
	$(PY) -m pytest -q -n 2 -m ""

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .

ui-screenshots: $(STAMP) ## the page's browser tests, saving each view to reports/ui/ (needs chromium: apt-get install chromium)
	PIPELINES_SCREENSHOTS=1 $(PY) -m pytest -q tests/test_web.py

answers: $(STAMP) ## render every number of docs/answers/*.md from reports/*.json (a test checks them)
	$(PY) -m benchmarks.answers

bench-list: ## the declared experiments (benchmarks/experiments.py): what each bench-NAME trains, on what, into which report
	@$(PY) -m benchmarks --list

bench-%: $(STAMP) ## run the declared experiment NAME (make bench-list); SEEDS="1 2 3" replaces its seeds; ARGS go to its scripts
	$(PY) -m benchmarks $* $(if $(SEEDS),--seeds $(SEEDS)) $(ARGS)

compare: bench-compare ## = make bench-compare: NER Transformer vs CRF vs BiLSTM-CRF -> reports/ner_compare.*

find-bad-labels: $(STAMP) ## rank suspect labels of TASK's DATA (k-fold; ARGS: --frozen, --split test, overrides)
	$(CLI) find-bad-labels --task $(TASK) $(if $(DATA),--data $(DATA)) $(ARGS)

review: $(STAMP) ## keep / relabel / skip the suspects in a browser page: SUSPECTS=<find-bad-labels folder> -> SUSPECTS/review/data
	@test -n "$(SUSPECTS)" || (echo "usage: make review SUSPECTS=<output folder of make find-bad-labels> [ARGS=\"--port 8001\"]"; exit 2)
	$(CLI) review $(SUSPECTS) $(ARGS)

clean: ## remove caches (keeps .venv and runs/)
	rm -rf .pytest_cache .ruff_cache lightning_logs
