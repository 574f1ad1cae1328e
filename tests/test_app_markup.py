"""Issue 20, item 7: names a user chose (files, zip entries, folders, spec fields, run settings) are shown
as text: no markdown the pages render from them holds a link or an image the browser would fetch."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from PIL import Image

from cinic.runs.folder import RunFolder
from made_images import image_bytes
from test_app import (assert_clean, demo_dir, finished_runs_root, open_app, with_demo,  # noqa: F401
                      with_finished_run)
from test_app_runs import _zip_bytes

URL = "http://127.0.0.1:9999"
PLAIN = {"selectbox", "multiselect", "text_input", "text_area", "arrow_data_frame", "file_uploader", "code", "json"}


def hostile(tag: str) -> str:
    return f"![{tag}]({URL}/{tag})"


def _strings(message):
    """Every text field of a proto message, its nested messages' too."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for item in values:
            if isinstance(item, str):
                yield item
            elif hasattr(item, "ListFields"):
                yield from _strings(item)


def rendered_markdown(at) -> list[str]:
    """The text of every element Streamlit renders as markdown (all but plain-text widgets and tables)."""
    found, todo = [], [at._tree]
    while todo:
        node = todo.pop()
        todo.extend(getattr(node, "children", {}).values())
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(node, "type", "") not in PLAIN:
            found.extend(_strings(proto))
    return found


def links_or_images(texts: list[str]) -> list[str]:
    """The texts in which markdown would make a link or an image of a hostile name, or link its URL."""
    return [t for t in texts if re.search(r"(?<!\\)\]\(", t) or URL in t or "<http" in t]


def test_file_and_entry_names_on_the_classify_page_are_text(with_finished_run):
    png = image_bytes(Image.new("RGB", (40, 40), (200, 30, 30)))
    at = open_app("Classify")
    at.file_uploader(key="classify-upload").set_value([
        (hostile("a") + ".png", png, "image/png"), (hostile("b") + ".png", b"not a png", "image/png")]).run()
    assert not at.exception
    entries = {hostile("c") + ".txt": b"left out", hostile("d") + ".png": png, hostile("e") + ".png": b"broken"}
    at.file_uploader(key="batch-zip").set_value(("z.zip", _zip_bytes(entries), "application/zip")).run()
    assert not at.exception
    texts = rendered_markdown(at)
    assert any(r"!\[a\]" in t for t in texts) and any(r"!\[c\]" in t for t in texts)  # shown, as text
    assert any(r"!\[b\]" in t for t in texts) and any(r"!\[e\]" in t for t in texts)
    assert links_or_images(texts) == []


@pytest.fixture
def hostile_run(with_finished_run, tmp_path, monkeypatch) -> RunFolder:
    """A copy of the finished run whose config names its augmentation like a markdown image and link."""
    runs = tmp_path / "runs"
    shutil.copytree(with_finished_run.path, runs / "mine")
    monkeypatch.setenv("CINIC_RUNS", str(runs))
    config = json.loads((runs / "mine" / "config.json").read_text())
    config["augment_name"] = hostile("f") + f" [Download the fixed model]({URL}/model)"
    config["augment_n"] = 100
    (runs / "mine" / "config.json").write_text(json.dumps(config))
    return RunFolder(runs / "mine")


@pytest.mark.parametrize("page", ["Results", "Train"])
def test_a_spec_field_on_the_results_and_train_pages_is_text(page, hostile_run):
    at = open_app(page)
    assert_clean(at)
    texts = rendered_markdown(at)
    assert any(r"!\[f\]" in t for t in texts), page  # the field is shown, escaped
    assert links_or_images(texts) == []


def test_as_text_escapes_what_markdown_would_read_and_leaves_prose_alone():
    from ui.app_ui import as_text

    assert as_text(hostile("x")) == r"!\[x\](http\://127.0.0.1\:9999/x)"
    assert as_text("<img src=x> :red[x] $x$ *b* _i_ `c` www.x.org a@b.c") == \
        r"\<img src=x\> \:red\[x\] \$x\$ \*b\* \_i\_ \`c\` www\.x.org a\@b.c"
    for prose in ("The disk refused: free some space.", "min_factor 2 (zoom), e.g. 'no-spaces-please'"):
        assert as_text(prose) == prose
