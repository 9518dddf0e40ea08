"""The web demo: its input handling, and the real app driven in headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf

from tfbert.base.errors import ExitCode
from tfbert.cli.demo import main as demo_main
from tfbert.serving.demo import MAX_CHARS, DemoInputError, check_text, read_batch
from tfbert.serving.exported import ExportedClassifier, ExportError

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("TFBERT_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def export_dir(trained_run) -> Path:
    return trained_run.run_dir / "export" / "classifier" / "1"


@pytest.fixture(scope="module")
def direct(export_dir):
    """What the SavedModel itself answers, to compare the demo with."""
    signature = tf.saved_model.load(str(export_dir)).signatures["serving_default"]

    def classify(texts):
        out = signature(text=tf.constant(texts))
        return [s.decode() for s in out["label"].numpy()], out["probabilities"].numpy()

    return classify


def test_classifier_reads_names_and_matches_the_signature(export_dir, direct):
    classifier = ExportedClassifier(export_dir)
    assert classifier.label_names == ("negative", "positive")
    assert classifier.max_length == 32
    texts = [f"review number {i} was {'great' if i % 2 else 'awful'}" for i in range(40)]
    labels, probabilities = direct(texts)
    predictions = classifier.predict(texts)  # more than one chunk of 32
    assert [p.label for p in predictions] == labels
    for prediction, row in zip(predictions, probabilities, strict=True):
        assert prediction.probabilities == pytest.approx({"negative": row[0], "positive": row[1]})


def test_bad_export_folder_is_explained(tmp_path, capsys):
    with pytest.raises(ExportError, match="saved_model.pb"):
        ExportedClassifier(tmp_path)
    assert demo_main(["--export", str(tmp_path)]) == ExitCode.RUN_FOLDER  # the code cli.py documents
    assert "export error" in capsys.readouterr().err


def test_text_checks():
    assert check_text(" fine ") == " fine "
    for bad in (None, "", "  \n\t"):
        with pytest.raises(DemoInputError, match="Type or paste"):
            check_text(bad)
    with pytest.raises(DemoInputError, match="at most"):
        check_text("x" * (MAX_CHARS + 1))


def test_batch_from_lines_and_files(tmp_path):
    assert read_batch("one\n\n  \ntwo\n", None) == ["one", "two"]
    csv = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [1, 2, 3], "text": ["a, with comma", "NA", "multi\nline"]}).to_csv(csv, index=False)
    assert read_batch("first", str(csv)) == ["first", "a, with comma", "NA", "multi\nline"]
    txt = tmp_path / "reviews.txt"
    txt.write_bytes(b"good\nbad \xff bytes\n")
    assert read_batch(None, str(txt)) == ["good", "bad \ufffd bytes"]
    with pytest.raises(DemoInputError, match="Paste some texts"):
        read_batch(" \n", None)
    other = tmp_path / "reviews.json"
    other.write_text("[]")
    with pytest.raises(DemoInputError, match=r"\.txt file"):
        read_batch(None, str(other))


def test_demo_imports_neither_transformers_nor_training_code(export_dir):
    code = ("import sys; from tfbert.serving.demo import build_app; "
            "from tfbert.serving.exported import ExportedClassifier; "
            f"build_app(ExportedClassifier({str(export_dir)!r})); "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'transformers' or "
            "m in ('tfbert.train', 'tfbert.model', 'tfbert.data')]; print(bad); assert not bad")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_url(export_dir):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--export", str(export_dir),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"demo did not start: {process.communicate()[0][-3000:]}")
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def page(demo_url):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (as .ci/run does) "
                    "or set TFBERT_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(demo_url, wait_until="domcontentloaded")
        yield page
        browser.close()


def test_browser_single_review_shows_label_and_confidence(page, direct):
    text = "A wonderful film, great acting and a story that stays with you."
    [want], [probabilities] = direct([text])
    page.locator("#review textarea").fill("   ")
    page.click("#classify")
    page.locator("#status").filter(has_text="Type or paste a review first").wait_for()

    page.locator("#review textarea").fill(text)
    page.click("#classify")
    page.locator("#status").filter(has_text="confidence").wait_for()
    assert page.locator('#prediction [data-testid="label-output-value"]').inner_text() == want
    shown = page.locator(f'#prediction [data-testid="{want}-confidence-set"] dd').inner_text()
    best = max(probabilities)
    assert shown == f"{round(best * 100)}%"
    assert f"{best:.1%}" in page.locator("#status").inner_text()


def test_browser_batch_lines_and_upload(page, direct, tmp_path):
    texts = ["great movie", "terrible plot and worse acting", "not bad at all"]
    labels, _ = direct(texts + ["uploaded one", "uploaded two"])
    upload = tmp_path / "more.csv"
    pd.DataFrame({"text": ["uploaded one", "uploaded two"]}).to_csv(upload, index=False)

    page.get_by_role("tab", name="Many texts").click()
    page.locator("#batch-lines textarea").fill("\n".join(texts))
    page.locator("#batch-file input[type=file]").set_input_files(str(upload))
    page.click("#classify-all")
    page.locator("#batch-status").filter(has_text="Classified 5 texts").wait_for()
    cells = [page.locator(f'#batch-table [data-testid="cell-{row}-1"]') for row in range(5)]
    assert [cell.inner_text().strip() for cell in cells] == labels
    assert page.locator('#batch-table [data-testid="cell-5-1"]').count() == 0
    link = page.locator("#batch-download a").first
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "predictions.csv"
    download.value.save_as(saved)
    table = pd.read_csv(saved)
    assert table["text"].tolist() == texts + ["uploaded one", "uploaded two"]
    assert table["label"].tolist() == labels


def test_scores_and_label_sets_in_words_and_tables():
    from tfbert.prediction import Prediction
    from tfbert.serving.demo import batch_table, describe, summarise

    scored = [Prediction("a", None, None, {}, score=7.25), Prediction("b", None, None, {}, score=2.0)]
    assert describe(scored[0]) == "Score **7.250**."
    table = batch_table(["a", "b"], scored)
    assert list(table.columns) == ["text", "score"]
    assert summarise(table, ("rating",)) == "scores from 2.000 to 7.250, mean 4.625"
    tagged = [Prediction("a", None, None, {"x": 0.9, "y": 0.7}, labels=("x", "y")),
              Prediction("b", None, None, {"x": 0.1, "y": 0.2}, labels=())]
    assert describe(tagged[0]) == "Labels: `x` `y`." and "No label" in describe(tagged[1])
    table = batch_table(["a", "b"], tagged)
    assert table["labels"].tolist() == ["x|y", ""]
    assert summarise(table, ("x", "y")) == "1 with x, 1 with y"
