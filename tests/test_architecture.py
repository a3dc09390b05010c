"""The layers of ARCHITECTURE.md, checked on the source: no import runs from a lower layer up to a higher one,
no import cycles, tasks never import Lightning or the training layer, and the shared machinery reaches a task
only through the registry."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# lower number = lower layer; a module may import its own layer and any below it
LAYERS = {"pipelines.errors": 0, "pipelines.env": 0, "pipelines.io": 0, "pipelines.config": 1,
          "pipelines.registry": 1, "pipelines.predictions": 1, "pipelines.records": 1, "pipelines.provenance": 0,
          "pipelines.cli": 0,
          "pipelines.shipped": 0, "pipelines": 0, "pipelines.packaging": 6, "pipelines.commands": 10,
          "pipelines.__main__": 10,
          "pipelines.data": 2, "pipelines.models": 3, "pipelines.task": 4, "pipelines.methods": 5,
          "pipelines.inference": 6, "pipelines.families": 7, "pipelines.training": 8, "pipelines.tasks": 9}

# a task file declares its task; the machinery lives in pipelines/families (the issue-36 goal: under 200 lines)
LONGEST_TASK_FILE = 199


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in (("pipelines", ()), ("tasks", ("pipelines",))):  # installed, tasks/ is pipelines.tasks
        for path in (ROOT / folder).rglob("*.py"):
            parts = (*package, *path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (function-level imports count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def layer(name: str) -> int | None:
    """The layer of a module: its own entry, or its package's (`pipelines` itself, the facade that names the public
    API, is no package entry: a new module in pipelines/ needs its own)."""
    best = max((k for k in LAYERS if name == k or (k != "pipelines" and name.startswith(k + "."))), key=len,
               default=None)
    return LAYERS[best] if best else None


def test_every_module_has_a_layer():
    assert not [m for m in modules() if layer(m) is None]


def test_no_import_from_a_lower_layer_up():
    known = modules()
    wrong = []
    for name, path in known.items():
        for target in imports(path):
            if target in known and layer(target) > layer(name) and not (name == "pipelines.registry"
                                                                        and target == "pipelines.tasks"):
                wrong.append(f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_tasks_use_no_lightning_and_no_training_layer():
    for name, path in modules().items():
        if name.startswith("pipelines.tasks"):
            bad = [t for t in imports(path) if t.split(".")[0] in {"lightning", "pytorch_lightning"}
                   or t.startswith("pipelines.training")]
            assert not bad, f"{name} imports {bad}"


def test_a_task_file_declares_a_task_and_builds_on_pipelines_only():
    """No task imports another task (shared code lives in pipelines/), no model class lives in a task file
    (models are in pipelines/models/), and each task file stays short."""
    for name, path in modules().items():
        if not name.startswith("pipelines.tasks."):
            continue
        others = sorted(t for t in imports(path) if t.startswith("pipelines.tasks") and t != name)
        assert not others, f"{name} imports {others}"
        tree = ast.parse(path.read_text())
        models = [c.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
                  and any(ast.unparse(b) in {"nn.Module", "torch.nn.Module", "Module"} for b in c.bases)]
        assert not models, f"{name} defines nn.Module classes {models}: put them in pipelines/models/"
        lines = len(path.read_text().splitlines())
        assert lines <= LONGEST_TASK_FILE, f"{path.name}: {lines} lines (at most {LONGEST_TASK_FILE})"


def test_only_label_sets_know_the_stored_label_form():
    """Several label sets are passed as one stored list; only pipelines.data.tags.LabelSets writes or reads how
    that list marks each label's set (no other code builds or parses "intent:" / "slot:" strings)."""
    for name, path in modules().items():
        if name == "pipelines.data.tags":
            continue
        strings = [n.value for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        bad = [x for x in strings if x in {"intent:", "slot:"}]
        assert not bad, f"{name} spells the stored label markers {bad}: use LabelSets"


def test_no_import_cycles():
    known = modules()
    graph = {m: {t for t in imports(p) if t in known and t != m} for m, p in known.items()}
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}  # a package's own parent
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The rule itself: a data module importing the training layer is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from pipelines.training.train import run\n")
    assert "pipelines.training.train" in imports(bad)
    assert layer("pipelines.data.bad") < layer("pipelines.training.train")
