"""Ship a trained model as a wheel: `nlp-pipelines package RUN --name my-ner --version 1.0` -> dist/my_ner-1.0-...whl.

After `pip install dist/my_ner-1.0-py3-none-any.whl`, `Predictor.load("my-ner")` works from any folder: the
wheel holds one package, `my_ner`, with the model folder (`my_ner/model/`: weights in safetensors, tokenizer,
featurizers, pipeline.json with its schema version, the model card README.md) and an entry point in the group
`nlp_pipelines.models` that Predictor.load finds by name without importing the package (pipelines.shipped).
Loading it runs no code from the wheel: the folder is data, read as any model folder is (no pickles).

The wheel is written here with zipfile (the wheel format is a zip with three metadata files and a RECORD of
hashes, PEP 427 / 491), so packaging needs no build backend and no network. It requires `nlp-pipelines` itself.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from pipelines.config import META
from pipelines.errors import ConfigError
from pipelines.inference.card import CARD, model_card
from pipelines.inference.predict import model_dir
from pipelines.io import atomic_write_bytes
from pipelines.shipped import MODELS_GROUP

NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*([-_.][A-Za-z0-9]+)*")
EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same run packs into the same bytes

INIT = '''"""{name} {version}: a model built by nlp-pipelines (task: {task}). See model/README.md, the model card."""

from pathlib import Path

MODEL = Path(__file__).resolve().parent / "model"


def load(**kwargs):
    """The model as a pipelines Predictor (keyword arguments go to Predictor.load)."""
    from pipelines.inference.predict import Predictor

    return Predictor.load(MODEL, **kwargs)
'''


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _metadata(name: str, version: str, task: str, card: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        ours = Version(installed("nlp-pipelines")).base_version
        needs = f"nlp-pipelines>={ours}"
    except PackageNotFoundError:
        needs = "nlp-pipelines"
    return (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Summary: {task} model built by nlp-pipelines\nRequires-Dist: {needs}\n"
            "Description-Content-Type: text/markdown\n\n" + card)


def package(run: str | Path, name: str, version: str, out: str | Path = "dist") -> Path:
    """Write the wheel of the model of `run` (a run folder or a model folder) to `out`; returns its path."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"--name {name!r}: a package name starts with a letter and holds letters, digits and "
                          "single - _ . between them (e.g. my-ner)")
    try:
        version = str(Version(version))
    except InvalidVersion:
        raise ConfigError(f"--version {version!r}: not a version pip accepts (e.g. 1.0, 1.0.1, 2.0rc1)") from None
    model = model_dir(run)  # the resolved model folder; ModelNotFoundError when there is none
    package_name = re.sub(r"[-_.]+", "_", name).lower()
    files = {f"{package_name}/model/{path.relative_to(model).as_posix()}": path.read_bytes()
             for path in sorted(model.rglob("*")) if path.is_file()}
    card = model_card(model, name, version)  # written afresh: the package's name and version are in it
    files[f"{package_name}/model/{CARD}"] = card.encode()
    task = json.loads(files[f"{package_name}/model/{META}"])["task"]
    files[f"{package_name}/__init__.py"] = INIT.format(name=name, version=version, task=task).encode()
    info = f"{package_name}-{version}.dist-info"
    files[f"{info}/METADATA"] = _metadata(name, version, task, card).encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: nlp-pipelines\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = f"[{MODELS_GROUP}]\n{name} = {package_name}\n".encode()
    files[f"{info}/top_level.txt"] = f"{package_name}\n".encode()
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{package_name}-{version}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            entry = zipfile.ZipInfo(path, date_time=EPOCH)
            entry.external_attr = 0o644 << 16  # readable by everyone, whatever the run folder's modes
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    atomic_write_bytes(wheel, buffer.getvalue())
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a finished run folder (or its model folder)")
    parser.add_argument("--name", required=True, help="the package name, e.g. my-ner (Predictor.load('my-ner'))")
    parser.add_argument("--version", required=True, help="its version, e.g. 1.0")
    parser.add_argument("--out", default="dist", help="where the wheel goes (default: dist)")
    args = parser.parse_args(argv)
    wheel = package(args.run, args.name, args.version, args.out)
    print(f"wrote {wheel}\ninstall it with: pip install {wheel}\nthen: Predictor.load({args.name!r})")
    return 0


if __name__ == "__main__":
    from pipelines.cli import run_cli

    run_cli(main)
