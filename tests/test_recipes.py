"""Recipe validation: errors name the key, the value found and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.errors import RecipeError
from triage.recipes import load_recipe

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", sorted((REPO / "training").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    assert recipe.output is not None or recipe.output_dir().name == path.stem


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ntask: s\nencoder: bert\ndata: {train: {file: a.csv}}\n", r"encoder.kind must be one of.*found 'bert'"),
        ("name: x\ntask: s\nencoder: tfidf\ndata: {train: {file: a.csv, dataset: b}}\n", "exactly one of 'dataset'"),
        ("name: x\ntask: s\nencoder: tfidf\nhead: {C: -1}\ndata: {train: {file: a.csv}}\n", r"head.C: Input should be greater than 0"),
        ("name: x\ntask: s\nencoder: tfidf\nhead: {tol: 0}\ndata: {train: {file: a.csv}}\n", r"head.tol: Input should be greater than 0"),
        ("name: x\ntask: s\nencoder: tfidf\ndata: {train: {file: a.csv}}\ncalibration: beta\n", r"calibration: Input should be 'temperature', 'top_label', 'platt', 'isotonic' or 'none'.*'beta'"),
        ("name: x\ntask: s\nencoder: tfidf\ndata: {train: {file: a.csv}}\nepochs: 3\n", r"epochs: Extra inputs are not permitted"),
        ("name: x\nencoder: tfidf\ndata: {train: {file: a.csv}}\n", r"task: Field required"),
        ("- a\n- b\n", "expected a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_recipes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(_write(tmp_path, text))


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
