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
SEEDS  ?= 1 2 3
EXPERIMENT ?= ner_compare
NAME   ?=
VERSION ?=

.DEFAULT_GOAL := help
.PHONY: help install train eval predict zero-shot few-shot chat distill quantize serve bench-fewshot bench-unseen bench-scratch bench-calibration bench-incremental bench-distill bench-inference bench-serve bench-splitters bench-served bench-disk bench-topics bench-analogy test test-all lint bench-ner bench-intent bench-throughput bench-offtopic bench-joint bench-joint-recipe bench-intent-recipe bench-ner-features bench-batching bench-memory bench-bad-labels bench-toxicity bench-dialogue bench-dialogue-sgd compare find-bad-labels clean test-bench bench-recheck package test-system bench-scale answers ui-screenshots

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'
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

bench-scale: $(STAMP) ## batch prediction: texts/s at 1 vs 2 processes, peak RSS on 1M lines, a killed job resumed -> reports/scale.*
	$(PY) -m benchmarks.scale

bench-dialogue: $(STAMP) ## sim-M state tracking, context ablation x SEEDS -> reports/dialogue_simm.*
	$(PY) -m benchmarks.dialogue_simm --seeds $(SEEDS)

bench-dialogue-sgd: $(STAMP) ## SGD subset, intent + slots with / without context x SEEDS -> reports/dialogue_sgd.*
	$(PY) -m benchmarks.dialogue_sgd --seeds $(SEEDS)

bench-ner: $(STAMP) ## CoNLL-2003 NER, SEEDS, sentence and document context -> reports/ner_conll2003.json
	$(PY) -m benchmarks.ner_conll2003 --seeds $(SEEDS)

bench-intent: $(STAMP) ## CLINC150 intents with the recipe before the search, SEEDS -> reports/intent_clinc150.json
	$(PY) -m benchmarks.intent_clinc150 --seeds $(SEEDS)

bench-throughput: $(STAMP) ## training/inference throughput ratios -> reports/throughput.json
	$(PY) -m benchmarks.throughput

bench-offtopic: $(STAMP) ## CLINC150 off-topic detectors on the shipped intent recipe, SEEDS, data_full -> reports/offtopic_recipe.*
	$(PY) -m benchmarks.offtopic_clinc150 --seeds $(SEEDS) --variants data_full

bench-joint: $(STAMP) ## joint intent+slots vs separate models on ATIS and SNIPS, SEEDS -> reports/joint_*.json
	$(PY) -m benchmarks.joint train.epochs=5 --datasets atis --seeds $(SEEDS)
	$(PY) -m benchmarks.joint --datasets snips --seeds $(SEEDS) --sweep

bench-intent-recipe: $(STAMP) ## intent recipe search on CLINC150 dev, the winner x SEEDS -> reports/intent_recipe.*
	$(PY) -m benchmarks.intent_recipe --seeds $(SEEDS)

bench-joint-recipe: $(STAMP) ## joint recipe search on ATIS dev, the winner x SEEDS, then on SNIPS -> reports/joint_recipe_*
	$(PY) -m benchmarks.joint_recipe --dataset atis --seeds $(SEEDS)
	$(PY) -m benchmarks.joint_recipe --dataset snips --seeds $(SEEDS) --shipped

bench-ner-features: $(STAMP) ## CoNLL-2003 word-feature ablation (1 epoch softmax x SEEDS; CRF 1 epoch; head lr; token budget; the default) -> reports/ner_features.*
	$(PY) -m benchmarks.ner_features --variants plain casing_input casing_head casing_chars_input casing_word2vec_input --seeds $(SEEDS) model.head=softmax train.epochs=1 train.head_lr=0 train.batch_tokens=0
	$(PY) -m benchmarks.ner_features --variants casing_input casing_head --seeds 1 model.head=softmax train.epochs=1 train.head_lr=1e-3 train.batch_tokens=0
	$(PY) -m benchmarks.ner_features --variants plain casing_input --seeds 1 train.epochs=1 train.head_lr=0 train.batch_tokens=0
	$(PY) -m benchmarks.ner_features --variants casing_input casing_input_doc --seeds $(SEEDS) train.head_lr=0 train.batch_tokens=0
	$(PY) -m benchmarks.ner_features --variants casing_input_headlr --seeds $(SEEDS) train.batch_tokens=0
	$(PY) -m benchmarks.ner_features --variants casing_input_headlr --seeds 1 train.lr=2e-4 train.batch_tokens=0
	$(PY) -m benchmarks.ner_features --variants casing_input_headlr --seeds $(SEEDS) train.batch_tokens=640

bench-batching: $(STAMP) ## fixed vs token-budget batches on CoNLL and CLINC150, SEEDS -> reports/batching.*
	$(PY) -m benchmarks.batching --seeds $(SEEDS)

bench-memory: $(STAMP) ## peak memory and step time: checkpointing, accumulation, long inputs -> reports/memory.*
	$(PY) -m benchmarks.memory

bench-bad-labels: $(STAMP) ## planted label flips: detection and cleaning, SEEDS -> reports/bad_labels.*
	$(PY) -m benchmarks.bad_labels --seeds $(SEEDS)

bench-toxicity: $(STAMP) ## Davidson imbalance recipes, SemEval spans, occlusion, cleaning -> reports/toxicity.*
	$(PY) -m benchmarks.toxicity --parts frozen --seeds $(SEEDS)
	$(PY) -m benchmarks.toxicity --parts finetune --variants plain sqrt_resampling --seeds $(SEEDS)
	$(PY) -m benchmarks.toxicity --parts spans --heads softmax crf --seeds $(SEEDS)
	$(PY) -m benchmarks.toxicity --parts attribution removal --recipe plain --head softmax \
	    --judge-run runs/bench/toxicity/davidson-sqrt_resampling-seed2
	$(PY) -m benchmarks.toxicity --parts clinc --variants plain sqrt_resampling logit_adjust --seeds $(SEEDS)
	$(PY) -m benchmarks.toxicity --parts errors --recipe plain
	$(PY) -m benchmarks.toxicity --parts report

bench-topics: $(STAMP) ## LDA + frozen Transformer fusion on 20 Newsgroups (raw, stripped) and BBC -> reports/topics.*
	$(PY) -m benchmarks.topics --stage encode
	$(PY) -m benchmarks.topics --stage baselines
	$(PY) -m benchmarks.topics --stage lda
	$(PY) -m benchmarks.topics --stage pooling --seeds $(SEEDS) train.threads=1
	$(PY) -m benchmarks.topics --stage variants --seeds $(SEEDS) train.threads=1
	$(PY) -m benchmarks.topics --stage report

bench-analogy: $(STAMP) ## word2vec vs encoder input embeddings: Google analogies, Procrustes/CKA/RSA -> reports/analogy.*
	$(PY) -m benchmarks.analogy

bench-fewshot: $(STAMP) ## zero-shot (CLINC150, SNIPS) and k-shot CLINC150 intents, SEEDS -> reports/fewshot.*
	$(PY) -m benchmarks.fewshot --parts zero few --seeds $(SEEDS)

bench-unseen: $(STAMP) ## held-out CLINC150 intents (same domain) vs far OOS, SEEDS -> reports/unseen_intents.*
	$(PY) -m benchmarks.unseen_intents --seeds $(SEEDS) --contrastive-epochs 0
	$(PY) -m benchmarks.unseen_intents --seeds 1 --contrastive-epochs 1

bench-scratch: $(STAMP) ## hand-written Transformer from scratch vs BiLSTM vs MiniLM, learning curves -> reports/scratch.*
	$(PY) -m benchmarks.scratch --datasets snips --models scratch --seeds $(SEEDS) --curve-seeds 1
	$(PY) -m benchmarks.scratch --datasets snips --models bilstm --seeds 1 --fractions 1.0

bench-calibration: $(STAMP) ## label smoothing and temperature scaling: ECE, NLL, OOS AUROC -> reports/calibration.*
	$(PY) -m benchmarks.calibration --datasets clinc150 --smoothing 0 0.1 --seeds 1

bench-incremental: $(STAMP) ## CLINC150 100 intents + 50 new (--steps 5: in 5 steps), naive vs replay vs full -> reports/incremental.*
	$(PY) -m benchmarks.incremental --seeds 1 --replay 0 5 20 --steps 1

bench-distill: $(STAMP) ## distillation ablation, CLINC150 and CoNLL-2003 -> reports/distill.*
	$(PY) -m benchmarks.distill --seeds $(SEEDS)

bench-inference: $(STAMP) ## speed methods side by side (FP32, ONNX, INT8, students) -> reports/inference.*
	$(PY) -m benchmarks.inference

bench-splitters: $(STAMP) ## which word splitter gives back CoNLL-2003 / ATIS / SNIPS tokens from raw text -> reports/splitters.*
	$(PY) -m benchmarks.splitters

bench-recheck: $(STAMP) ## one published row per task retrained by this checkout (seed 1) beside its report -> reports/recheck.*
	$(PY) -m benchmarks.recheck $(ARGS)

bench-served: $(STAMP) ## served = scored: predict on raw text vs gold tokens, every task (ARGS="--parts ner --run ner=RUN"; trains missing defaults) -> reports/served_vs_scored.*
	$(PY) -m benchmarks.served_vs_scored $(ARGS)

bench-disk: $(STAMP) ## disk use of a run: model/ and each checkpoint (RUN=, default the bench-served NER run) -> reports/disk_use.json
	$(PY) -m benchmarks.disk_use $(if $(RUN),--run $(RUN))

bench-serve: $(STAMP) ## the HTTP service under 1/8/32 concurrent clients -> reports/serve.json
	$(PY) -m benchmarks.serve_load

find-bad-labels: $(STAMP) ## rank suspect labels of TASK's DATA (k-fold; ARGS: --frozen, --split test, overrides)
	$(CLI) find-bad-labels --task $(TASK) $(if $(DATA),--data $(DATA)) $(ARGS)

compare: $(STAMP) ## run a comparison benchmark, EXPERIMENT=ner_compare (Transformer vs CRF vs BiLSTM-CRF), SEEDS
	$(PY) -m benchmarks.$(EXPERIMENT) --seeds $(SEEDS)

clean: ## remove caches (keeps .venv and runs/)
	rm -rf .pytest_cache .ruff_cache lightning_logs
