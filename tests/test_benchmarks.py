"""Every script in benchmarks/ runs end to end in its cheapest setting on tiny data (tests/bench_data.py) with
the tiny encoder, so that a broken import or a changed API fails here and not for the user who reruns a
published number. Nothing is measured: the outputs only have to appear."""

import importlib
import json
from pathlib import Path

import pytest
from bench_data import write

pytestmark = pytest.mark.bench  # make test-bench (and CI); make test leaves them out

TINY = ["model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2", "train.progress_bar=false",
        "train.batch_size=8", "data.max_length=32"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A working folder (runs/ and reports/ land there) with the tiny data, and the benchmark modules loaded
    against it."""
    work = tmp_path_factory.mktemp("bench")
    data = write(work / "data")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_DATA_ROOT", str(data))
    mp.chdir(work)
    import benchmarks.common

    importlib.reload(benchmarks.common)

    def load(name):
        return importlib.reload(importlib.import_module(f"benchmarks.{name}"))

    yield work, data, load
    mp.undo()


def test_ner_benchmarks(bench):
    work, data, load = bench
    load("ner_conll2003").main(["--seeds", "1", "--settings", "sentence", "--data", str(data / "conll2003"),
                                "--out", "reports/ner.json", *TINY])
    assert json.loads((work / "reports/ner.json").read_text())["sentence"]["seeds"] == [1]
    load("ner_decoding").main(["--data", str(data / "conll2003"), "--out", "reports/decoding.json"])
    decoding = json.loads((work / "reports/decoding.json").read_text())
    assert len(decoding["runs"]) == 1 and "test_viterbi_f1_mean" in decoding
    load("ner_compare").main(["--seeds", "1", "--variants", "softmax", "softmax_viterbi", "softmax_viterbi_int8",
                              "crf", "--data", str(data / "conll2003"), "--texts", "8", "--out", "reports/compare",
                              *TINY])
    load("ner_compare").main(["--seeds", "1", "--variants", "bilstm_crf_word2vec", "--data", str(data / "conll2003"),
                              "--texts", "8", "--out", "reports/compare", "train.epochs=1",
                              "train.limit_train_batches=2", "train.progress_bar=false"])
    compare = json.loads((work / "reports/compare.json").read_text())
    assert {"softmax", "crf", "softmax_viterbi", "bilstm_crf_word2vec"} <= set(compare["variants"])
    assert (work / "reports/compare.md").exists() and (work / "reports/compare.png").exists()


def test_bad_label_benchmarks(bench):
    work, data, load = bench
    if not sorted((work / "runs/bench").glob("ner-seed1-*")):  # the CoNLL run test_ner_benchmarks leaves, on any worker
        load("ner_conll2003").main(["--seeds", "1", "--settings", "sentence", "--data", str(data / "conll2003"),
                                    "--out", "reports/ner.json", *TINY])
    load("bad_labels").main(["--settings", "snips:uniform", "conll2003:confusable", "--seeds", "1", "--folds", "2",
                             "--data-root", str(data), "--encoder", "tiny", "--out", "reports/bad"])
    settings = json.loads((work / "reports/bad.json").read_text())["settings"]
    assert {"snips:uniform:frozen", "conll2003:confusable:frozen"} <= set(settings)
    runs = sorted((work / "runs/bench").glob("ner-seed1-*"))
    load("bad_labels_real").main(["--conll-model", str(runs[0]), "--corpora", "conll2003-test", "atis-intent-train",
                                  "--top", "3", "--out", "reports/real.json", "model.encoder=tiny"])
    real = json.loads((work / "reports/real.json").read_text())["corpora"]
    assert len(real["conll2003-test"]["top"]) == 3 and "text" not in real["atis-intent-train"]["top"][0]


def test_intent_offtopic_and_joint_benchmarks(bench):
    work, data, load = bench
    load("intent_clinc150").main(["--seeds", "1", "--data", str(data / "clinc150/data_full.json"),
                                  "--out", "reports/intent.json", *TINY])
    assert "test_accuracy_mean" in json.loads((work / "reports/intent.json").read_text())
    load("offtopic_clinc150").main(["--seeds", "1", "--variants", "data_full", "--data", str(data / "clinc150"),
                                    "--base-encoder", "tiny", "--recipe-before", "--out", "reports/offtopic", *TINY])
    before = json.loads((work / "reports/offtopic.json").read_text())
    assert "151st_class" in before["variants"]["data_full"]["mean_sd"]
    recipe = before["variants"]["data_full"]["overrides"]  # kept per variant: one report may mix calls
    assert recipe[:2] == ["model.pooling=mean", "train.lr=1e-4"]  # the recipe the old report used
    assert "Overrides: `model.pooling=mean` `train.lr=1e-4`" in (work / "reports/offtopic.md").read_text()
    load("offtopic_clinc150").main(["--seeds", "1", "--variants", "data_full", "--data", str(data / "clinc150"),
                                    "--base-encoder", "tiny", "--no-151", "--out", "reports/offtopic_no151", *TINY])
    no151 = json.loads((work / "reports/offtopic_no151.json").read_text())["variants"]["data_full"]["mean_sd"]
    assert "msp/no_oos" in no151 and "151st_class" not in no151
    assert "Overrides: `model.encoder=tiny`" in (work / "reports/offtopic_no151.md").read_text()
    load("joint").main(["--datasets", "snips", "--seeds", "1", "--sweep", "--data-root", str(data),
                        "--out-dir", "reports", *TINY])
    assert (work / "reports/joint_snips.json").exists() and (work / "reports/joint_vs_separate.md").exists()


def test_throughput_benchmark(bench):
    work, _, load = bench
    load("throughput").main(["--steps", "2", "--texts", "8", "--encoder", "tiny", "--out", "reports/speed.json",
                             "--epoch-reps", "1", "--epoch-sentences", "256"])
    speed = json.loads((work / "reports/speed.json").read_text())
    assert speed["vs_hf_trainer"] > 0 and speed["predictor_vs_hf_pipeline"] > 0
    whole = speed["whole_pass"]  # both frameworks read every sentence of the set once
    assert [r[0]["sentences"] for r in whole["runs"].values()] == [whole["sentences"]] * 2
    assert whole["ratio_mean"]["tokens_per_s"] > 0


def test_toxicity_benchmark(bench):
    work, data, load = bench
    tox = load("toxicity")
    runs = "runs/bench/toxicity"
    tox.main(["--parts", "frozen", "finetune", "spans", "--variants", "plain", "--heads", "softmax", "--seeds", "1",
              "--encoder", "tiny", "train.limit_train_batches=2", "train.batch_size=8", "data.max_length=32"])
    tox.main(["--parts", "attribution", "removal", "clinc", "errors", "report", "--variants", "plain", "--seeds", "1",
              "--encoder", "tiny", "--head", "softmax", "--dev-posts", "4",
              "--judge-run", f"{runs}/davidson-plain-seed1"])
    report = json.loads((work / "reports/toxicity.json").read_text())
    parts = {"detection_frozen", "detection_finetuned", "spans", "attribution", "removal", "clinc_imbalanced",
             "error_analysis"}
    assert parts <= set(report)
    assert set(report["detection_frozen"]["results"]) == set(tox.RECIPES)
    split = json.loads((work / "reports/toxicity_davidson_split.json").read_text())["splits"]
    ids = [set(split[s]["ids"]) for s in ("train", "validation", "test")]
    assert sum(map(len, ids)) == 280 and not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert (work / "reports/toxicity.md").exists() and (work / "reports/toxicity_detection.png").exists()
    assert (work / runs / "removal_examples.md").exists()  # the examples quote corpus text: not in reports/


def test_fast_inference_benchmarks(bench):
    """distill (teachers + students), inference (every speed variant, the calibration plot) and serve_load."""
    work, data, load = bench
    teacher = ["teacher.model.encoder=tiny", "teacher.train.epochs=1", "teacher.train.limit_train_batches=2",
               "teacher.train.batch_size=8", "teacher.data.max_length=32"]
    load("distill").main(["--seeds", "1", "--variants", "kl+aug", *teacher, "train.epochs=1",
                          "train.limit_train_batches=2", "train.batch_size=8"])
    distill = json.loads((work / "reports/distill.json").read_text())["parts"]
    assert set(distill) == {"intent", "intent-shipped", "ner"} and set(distill["intent"]["students"]) == {"kl+aug"}
    assert distill["intent-shipped"]["teacher_recipe"] and distill["intent"]["teacher_recipe"] is None
    assert distill["intent"]["students"]["kl+aug"]["transfer_set"] == 3 * 360  # train + 2 copies
    load("inference").main(["--rounds", "1", "--latency-texts", "3", "--throughput-texts", "8", "--threads", "1",
                            "--calibrations", "entropy"])
    inference = json.loads((work / "reports/inference.json").read_text())
    variants = set(inference["parts"]["ner"]["variants"])
    assert {"teacher_fp32", "teacher_sorted", "teacher_onnx", "teacher_int8", "teacher_static_entropy",
            "student_fp32", "student_onnx", "student_int8", "student_static_entropy"} <= variants
    timed = inference["parts"]["intent"]["variants"]["student_int8"]["timings"]["1"]
    assert timed["texts_per_s"] > 0 and timed["speedup_batch1"] > 0
    assert (work / "reports/inference_calibration.png").exists() and len(inference["calibration"]["tensors"]) == 3
    load("serve_load").main(["--run", distill["intent"]["teacher"]["run"],
                             "--data", str(data / "clinc150" / "data_full.json"), "--seconds", "1",
                             "--concurrency", "1", "4", "--hostile", "0.3"])
    serve = json.loads((work / "reports/serve.json").read_text())
    assert serve["valid_request_errors"] == 0 and set(serve["micro_batching_speedup"]) == {"1", "4"}
    hostile = serve["hostile_traffic"]
    assert hostile["valid_request_errors"] == 0 and hostile["valid_requests"] > 0
    assert hostile["hostile_responses"] and all(s in {"400", "413", "422"} for s in hostile["hostile_responses"])


def test_topics_and_analogy_benchmarks(bench):
    work, data, load = bench
    topics = load("topics")
    small = ["--corpora", "bbc", "20ng_stripped", "--seeds", "1"]
    run = ["model.encoder=tiny", "train.epochs=1", "train.progress_bar=false", "model.lda_passes=1"]
    topics.main(["--stage", "encode", "--encoder", "tiny", *small])
    topics.main(["--stage", "baselines", *small])
    topics.main(["--stage", "lda", "--topic-counts", "2", "3", *small])
    topics.main(["--stage", "pooling", *small, *run])
    topics.main(["--stage", "variants", *small, *run])
    topics.main(["--stage", "report"])
    report = json.loads((work / "reports/topics.json").read_text())["corpora"]
    assert report["bbc"]["lda"]["chosen_num_topics"] in {2, 3}
    assert set(report["20ng_stripped"]["variants"]["by_fusion"]) == {"topics", "text", "concat", "gate",
                                                                     "text_sparse", "gate_sparse", "text_late",
                                                                     "gate_late"}
    assert {"gate_minus_text", "gate_sparse_minus_gate"} <= set(report["bbc"]["variants"]["paired"])
    sparse_run = Path(report["bbc"]["variants"]["by_fusion"]["gate_sparse"]["runs"][0]["run"])
    assert (work / sparse_run / "model" / "sparse" / "sparse.safetensors").exists()
    for name in ("topics.md", "topics_heatmap.png", "topics_words.png", "topics_confusion.png"):
        assert (work / "reports" / name).exists(), name
    load("analogy").main(["--encoder", "tiny", "--epochs", "1", "--min-count", "1"])
    analogy = json.loads((work / "reports/analogy.json").read_text())
    assert set(analogy["analogies"]) == {"word2vec_seed1", "word2vec_seed2", "encoder_input_embeddings"}
    assert (work / "reports/analogy.md").exists()


def test_fewshot_and_unseen_intent_benchmarks(bench):
    work, _, load = bench
    load("fewshot").main(["--parts", "zero", "few", "--shots", "5", "--seeds", "1", "--finetune-seeds", "1",
                          "--encoder", "tiny", "--contrastive-epochs", "1", "--out", "reports/fewshot.json", *TINY])
    report = json.loads((work / "reports/fewshot.json").read_text())
    assert {"clinc150", "snips"} <= set(report["zero_shot"]) and "oos_recall" in report["zero_shot"]["clinc150"][
        "best_on_dev"]
    # an explicit epoch count is a variant of its own: its rows are `contrastive-e1 ...`
    assert {"frozen logistic+label_prior", "contrastive-e1 prototype", "finetune"} <= set(report["few_shot"]["table"])
    assert (work / "reports/fewshot.md").exists() and (work / "reports/fewshot.png").exists()
    load("unseen_intents").main(["--seeds", "1", "--per-domain", "1", "--encoder", "tiny", "--contrastive-epochs", "1",
                                 "--shipped", "--out", "reports/unseen.json", *TINY])
    unseen = json.loads((work / "reports/unseen.json").read_text())
    assert {"frozen-seed1", "contrastive1-seed1", "shipped-seed1"} == set(unseen["runs"]) and len(
        unseen["runs"]["frozen-seed1"]["held_out"]) == 2
    assert "unseen_auroc" in unseen["summary"]["frozen"]["msp"]
    shipped = unseen["runs"]["shipped-seed1"]
    assert {"msp", "combined"} <= set(shipped) and 0 <= shipped["combined"]["dev_unseen_auroc"] <= 1
    trained = json.loads((work / shipped["run"] / "metrics.json").read_text())
    train_file = work / "runs/bench/unseen/data-seed1/train.jsonl"
    assert trained["train_examples"] == len(train_file.read_text().splitlines())
    assert "| shipped (n=1) | combined |" in (work / "reports/unseen.md").read_text()


def test_latency_benchmark(bench):
    """Both routes timed for the teacher, its INT8 export and the student (a handful of calls)."""
    work, _, load = bench
    load("latency").main(["--calls", "5", "--reps", "1", "--out", "reports/latency", *TINY])
    r = json.loads((work / "reports/latency.json").read_text())
    assert set(r["models"]) == {"teacher_fp32", "teacher_int8", "student_fp32"}
    assert all(v[route]["calls"] == 5 for v in r["models"].values() for route in ("light", "datasets"))
    assert r["student_vs_teacher_p50"] > 0 and (work / "reports/latency.md").exists()


def test_masking_benchmark(bench):
    """The teacher (trained tiny here) read alone, batched with and without the mask, and through Predictor."""
    work, data, load = bench
    load("masking").main(["--data", str(data / "clinc150" / "data_full.json"), "--out", "reports/masking", *TINY])
    r = json.loads((work / "reports/masking.json").read_text())
    assert r["batched, masked"]["max_probability_change"] < 1e-4  # padding, masked, changes nothing
    assert r["batched, no mask"]["padding_share"] > 0 and "accuracy" in r["Predictor.predict"]
    assert (work / "reports/masking.md").exists()


def test_review_loop_benchmark(bench):
    """Planted flips in the shipped intent sample, find-bad-labels, the oracle reviewer, two trainings."""
    work, _, load = bench
    load("review_loop").main(["--seeds", "1", "--flips", "6", "--out", "reports/review_loop", *TINY])
    r = json.loads((work / "reports/review_loop.json").read_text())["per_seed"][0]
    assert r["looked_at"] == 12 and r["relabelled"] == r["planted_in_view"] <= 6
    assert r["wrong_after_review"] == 6 - r["relabelled"] and "corrected_test_accuracy" in r
    assert (work / "runs/bench/review_loop/suspects-seed1/review/decisions.jsonl").exists()


def test_scratch_calibration_and_incremental_benchmarks(bench):
    work, _, load = bench
    load("scratch").main(["--datasets", "snips", "--models", "scratch", "bilstm", "--seeds", "1", "--fractions", "0.5",
                          "1.0", "--out", "reports/scratch.json", *TINY[1:]])  # their own encoders
    scratch = json.loads((work / "reports/scratch.json").read_text())
    assert set(scratch["summary"]["snips"]) == {"scratch", "bilstm"} and (work / "reports/scratch.png").exists()
    load("calibration").main(["--datasets", "clinc150", "--smoothing", "0", "0.1", "--seeds", "1",
                              "--out", "reports/calibration.json", *TINY])
    cal = json.loads((work / "reports/calibration.json").read_text())
    assert len(cal["summary"]) == 2 and "auroc_mahalanobis" in cal["summary"][0]
    load("incremental").main(["--seeds", "1", "--base", "3", "--replay", "0", "2", "--steps", "1", "2",
                              "--out", "reports/incremental.json", *TINY])
    incr = json.loads((work / "reports/incremental.json").read_text())
    assert {"steps1-replay0-random-seed1", "steps2-replay2-random-seed1", "full-seed1"} <= set(incr["runs"])


def test_dialogue_benchmarks(bench):
    work, data, load = bench
    tiny = [x for x in TINY if not x.startswith("data.max_length")] + ["data.max_length=48"]
    load("dialogue_simm").main(["--seeds", "1", "--variants", "user", "history", "--extra-variants", "history_noaug",
                                *tiny])
    simm = json.loads((work / "reports/dialogue_simm.json").read_text())
    assert set(simm["runs"]) == {"user", "history", "history_noaug"}
    history = simm["runs"]["history"][0]
    assert "oos_caught" in history["offtopic"] and "jga_without_span_copy" in history
    assert "| user turn only |" in (work / "reports/dialogue_simm.md").read_text()
    load("dialogue_simm").main(["--title-folds", "2", "--variants", "user", "--extra-variants", *tiny])
    simm = json.loads((work / "reports/dialogue_simm.json").read_text())
    folds = simm["title_folds"]
    assert set(simm["runs"]) == {"user", "history", "history_noaug"}  # the published rows stay
    assert len(folds["folds"]) == 2 and not set(folds["folds"][0]) & set(folds["folds"][1])
    assert [r["fold"] for r in folds["runs"]["user"]] == [1, 2] and "user" in folds["summary"]
    assert "Selection on titles never seen in training" in (work / "reports/dialogue_simm.md").read_text()
    load("dialogue_sgd").main(["--seeds", "1", "--services", "Restaurants_1", "Hotels_2", "--dialogues", "12", *tiny])
    sgd = json.loads((work / "reports/dialogue_sgd.json").read_text())
    assert set(sgd["runs"]) == {"user", "history"} and "difference" in sgd
    assert sgd["counts"]["train"]["dialogues"] + sgd["counts"]["test"]["dialogues"] <= 24


def test_recipe_feature_batching_and_memory_benchmarks(bench):
    work, data, load = bench
    load("joint_recipe").main(["--dataset", "atis", "--seeds", "1", "--data-root", str(data), *TINY])
    recipe = json.loads((work / "reports/joint_recipe_atis.json").read_text())
    assert len(recipe["search"]) == 8 and recipe["final"] and (work / "reports/joint_recipe_atis.md").exists()
    load("joint_recipe").main(["--dataset", "atis", "--seeds", "1", "--data-root", str(data), "--out-dir", "moved",
                               "--shipped", *TINY])
    moved = json.loads((work / "moved/joint_recipe_atis.json").read_text())
    assert moved["search"] == [] and moved["winner"] == [] and moved["transferred"] and moved["final"]
    assert "No search on this dataset" in (work / "moved/joint_recipe_atis.md").read_text()
    load("joint_recipe").main(["--dataset", "atis", "--seeds", "2", "--data-root", str(data), "--out-dir", "moved",
                               "--shipped", *TINY[:3], *TINY[4:]])  # a later call adds seed 2 and keeps seed 1
    # (made without train.progress_bar=false: a progress bar is not a setting)
    both = json.loads((work / "moved/joint_recipe_atis.json").read_text())
    assert both["seeds"] == [1, 2] and both["per_seed"][0] == moved["per_seed"][0] and both["search_seed"] == 2
    assert list(both["seeds_from_earlier_calls"]["machine"]) == ["1"] and "final" in both
    assert "Seed 1 comes from an earlier call" in (work / "moved/joint_recipe_atis.md").read_text()
    load("intent_recipe").main(["--seeds", "1", "--data", str(data / "clinc150/data_full.json"), *TINY])
    intent = json.loads((work / "reports/intent_recipe.json").read_text())
    assert len(intent["search"]) == 10 and sum(row["chosen"] for row in intent["search"]) == 5
    assert intent["winner"][0] == "model.pooling=mean"
    assert "| winner |" in (work / "reports/intent_recipe.md").read_text()
    from benchmarks.intent_recipe import render

    stopped = {k: v for k, v in intent.items() if k != "final"} | {"search": intent["search"][:2]}
    assert "Search incomplete: 1 of 5 stages run" in render(stopped)
    (work / "reports/intent_recipe.json").write_text(json.dumps(stopped))
    load("intent_recipe").main(["--render"])
    assert "Search incomplete" in (work / "reports/intent_recipe.md").read_text()
    load("ner_features").main(["--variants", "plain", "casing_input", "--seeds", "1", "--data-root", str(data),
                               *TINY])
    rows = json.loads((work / "reports/ner_features.json").read_text())["variants"].values()
    assert sorted(e["variant"] for e in rows) == ["casing_input", "plain"]
    assert all(e["extra"] == TINY[:3] + TINY[4:] for e in rows)  # the progress bar is not a setting
    line = next(x for x in (work / "reports/ner_features.md").read_text().splitlines()
                if "| casing_input | `model.word_features=casing` | 1 |" in x)
    assert "±" not in line  # one seed has no spread to report
    # every seed's row is its own run's metrics (three seeds once showed one test F1 with three dev F1s)
    load("ner_features").main(["--variants", "plain", "--seeds", "1", "2", "--data-root", str(data), *TINY])
    plain = next(e for e in json.loads((work / "reports/ner_features.json").read_text())["variants"].values()
                 if e["variant"] == "plain")
    for seed in ("1", "2"):
        [run] = (work / "runs/bench/ner_features").glob(f"*/plain-seed{seed}")
        m = json.loads((run / "metrics.json").read_text())
        assert m["seed"] == int(seed) and plain["runs"][seed]["test_f1"] == round(100 * m["test"]["f1"], 2)
        assert plain["runs"][seed]["dev_f1"] == round(100 * m["validation"]["f1"], 2)
    load("ner_features").main(["--variants", "casing_input_doc", "--seeds", "1", "--data-root", str(data), *TINY])
    doc = json.loads((work / "reports/ner_features.json").read_text())["variants"][" ".join(["casing_input_doc",
                                                                                              *TINY[:3], *TINY[4:]])]
    assert 0 <= doc["runs"]["1"]["test_f1_sentence"] <= 100 and doc["dev_f1_sentence_n"] == 1  # served per sentence
    assert "scored one sentence at a time" in (work / "reports/ner_features.md").read_text()
    load("batching").main(["--datasets", "clinc150", "--encoder", "tiny", "--minutes", "0.02", "--steps", "2",
                           "train.progress_bar=false"])
    clinc = json.loads((work / "reports/batching.json").read_text())["datasets"]["clinc150"]
    assert clinc["shape"]["budget"]["padded_tokens_max"] <= clinc["batch_tokens"]
    assert clinc["same_wall_time"]["budget"]["n_seeds"] == 1
    load("memory").main(["--encoder", "tiny", "--steps", "2", "--parts", "long document", "--doc-tokens", "60",
                         "--in-process"])
    memory = json.loads((work / "reports/memory.json").read_text())
    assert len(memory["results"]) == 4 and memory["results"][1]["grad_rel_diff_vs_one_graph"] < 1e-4


def test_served_vs_scored_and_splitters(bench):
    from pipelines.config import load_config
    from pipelines.training.train import run

    work, data, load = bench
    runs = work / "runs"

    def tiny(task, name, path, *extra, splits=None):
        run(load_config(None, [*TINY, f"data.path={path}", f"train.out_dir={runs}", *extra], task=task),
            runs / name, splits=splits)
        return f"{'ner' if name == 'served-ner' else name.split('-')[1]}={runs / name}"

    tox = load("toxicity")
    davidson = tox.davidson_for("plain", load("toxicity_data").davidson_splits())
    given = [tiny("ner", "served-ner", data / "conll2003"),
             tiny("intent", "served-intent", data / "clinc150" / "data_full.json"),
             tiny("joint", "served-atis", data / "atis"),
             tiny("dialogue", "served-simm", data / "sim_m"),
             tiny("toxicity", "served-davidson", "davidson", "model.prior_correction=none", splits=davidson),
             tiny("ner", "served-ner_doc", data / "conll2003", "data.doc_context=true")]
    load("served_vs_scored").main(["--data-root", str(data), "--limit", "20",
                                   "--parts", "ner", "intent", "atis", "davidson", "simm", "ner_doc",
                                   *[x for g in given for x in ("--run", g)]])
    report = json.loads((work / "reports/served_vs_scored.json").read_text())
    tasks = report["tasks"]
    assert tasks["intent"]["clinc150"]["gap"] == 0.0  # raw texts both ways: the paths must agree
    assert tasks["toxicity"]["davidson"]["labels_differ"] == 0  # tweets are raw text: the same labels
    atis = tasks["joint"]["atis"]
    assert {"gold_tokens", "raw_text", "gap"} <= set(atis) and 0 <= atis["raw_text"]["slot_f1"] <= 100
    assert 0 <= tasks["dialogue"]["sim_m"]["raw_text"]["jga"] <= 100 and tasks["dialogue"]["sim_m"]["turns"] > 0
    ece = report["ner_entity_ece"]
    assert ece["temperature"] > 0 and {"before", "after", "served"} <= set(ece)
    assert (work / "reports/served_entity_reliability.png").exists()
    assert set(report["run_commits"]) == {"ner", "intent", "atis", "davidson", "simm", "ner_doc"}
    doc = report["ner_doc_context"]
    assert {"gold_tokens", "raw_documents", "raw_sentences"} <= set(doc["dev"]) <= set(doc["test"])
    load("disk_use").main(["--run", str(work / "runs" / "served-ner"), "--out", "reports/disk.json"])
    disk = json.loads((work / "reports/disk.json").read_text())
    assert disk["run_mb"]["both"] > disk["run_mb"]["last"] > disk["run_mb"]["none"] == disk["model_mb"] > 0
    ner = report["tasks"]["ner"]["conll2003"]
    assert {"gold_tokens", "raw_text", "gap", "split_cost"} <= set(ner) and len(ner["variants"]) == 4
    load("splitters").main(["--data-root", str(data)])
    splitters = json.loads((work / "reports/splitters.json").read_text())
    assert splitters["chosen"] in {"treebank", "regex"} and (work / "reports/splitters.md").exists()


def test_recheck_benchmark(bench):
    """benchmarks.recheck retrains a part and puts its test scores beside the published ones."""
    from pathlib import Path

    work, data, load = bench
    published = Path(__file__).resolve().parent.parent / "reports"
    load("recheck").main(["--parts", "atis", "--data-root", str(data), "--published", str(published),
                          "--out", "reports/recheck", *TINY])
    row = json.loads((work / "reports/recheck.json").read_text())["parts"]["atis"]["test"]["slot_f1"]
    assert set(row) == {"now", "published", "diff"} and row["diff"] == pytest.approx(row["now"] - row["published"])
    assert "| atis | slot_f1 |" in (work / "reports/recheck.md").read_text()


def test_scale_benchmark(bench):
    work, data, load = bench
    load("scale").main(["--lines", "40", "--big", "300", "--kill-after", "3", "--out", "reports/scale.json", *TINY])
    report = json.loads((work / "reports/scale.json").read_text())
    assert len(report["runs"]) == 4 and report["runs"][-1]["covered_once"] and report["resume"]["covered_once"]
    assert (work / "reports/scale.md").exists()


def test_tfidf_baselines_benchmark(bench):
    work, _, load = bench
    load("toxicity_data")  # its data path follows the bench data root
    load("tfidf_baselines").main(["--out", "reports/tfidf.json"])
    report = json.loads((work / "reports/tfidf.json").read_text())["corpora"]
    assert set(report) == {"clinc150", "atis", "snips", "davidson"}
    for rows in report.values():
        assert {"svm", "logreg"} <= set(rows) and 0 <= rows["svm"]["test_accuracy"] <= 100
    assert set(report["davidson"]["svm"]["test_f1_per_class"]) == {"hate", "offensive", "neither"}
    assert "| davidson | svm |" in (work / "reports/tfidf.md").read_text()
