"""cinic/bench/full_scale.py: a CINIC-10-sized folder from a sample, through `python -m cinic make-full-scale`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cinic import cli

from cinic.data import dataset as data

from cinic.bench import full_scale


@pytest.mark.slow
def test_make_full_scale_writes_a_cinic_layout(tiny_data, tmp_path, capsys):
    out = tmp_path / "full"
    assert cli.main(["make-full-scale", str(out), "--data", str(tiny_data), "--per-split", "205",
                     "--jobs", "2", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["images"] == 3 * 205
    checked = data.validate_root(out)  # the project's own validator accepts it
    for split in data.SPLITS:
        counts = checked["counts"][split]
        assert sum(counts.values()) == 205
        assert sorted(counts.values()) == [20] * 5 + [21] * 5  # the remainder goes to the first classes
    one = next((out / "train" / "cat").glob("*.png"))
    with Image.open(one) as img:
        assert img.size == (32, 32) and img.mode == "RGB"
    with pytest.raises(full_scale.FullScaleError, match="already exists and is not an empty folder"):
        full_scale.make_full_scale(tiny_data, out, per_split=10, jobs=1)


def test_perturb_keeps_an_image_close_but_not_equal():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    copies = [full_scale.perturb(image, np.random.default_rng(k)) for k in range(8)]
    assert all(c.shape == image.shape and c.dtype == np.uint8 for c in copies)
    assert all(not np.array_equal(c, image) for c in copies)
    assert len({c.tobytes() for c in copies}) == len(copies)


@pytest.mark.parametrize("per_split, jobs, words", [(5, 1, "at least 10 images per split"),
                                                    (20, 0, "at least 1 worker process")])
def test_bad_sizes_are_refused_before_any_work(tiny_data, tmp_path, per_split, jobs, words):
    with pytest.raises(full_scale.FullScaleError, match=words):
        full_scale.make_full_scale(tiny_data, tmp_path / "out", per_split=per_split, jobs=jobs)
    assert not (tmp_path / "out").exists()


def test_the_copy_never_lands_inside_its_source(tiny_data, tmp_path):
    """Issue 20, item 10: make-full-scale refuses an --out inside (or holding) the images it copies,
    however the path is spelled (a link to the source)."""
    import shutil

    source = tmp_path / "source"
    shutil.copytree(tiny_data, source)
    link = tmp_path / "link"
    link.symlink_to(source)
    for given, out in ((link, source / "train" / "big"), (source, link / "big"), (source / "train", source)):
        with pytest.raises(full_scale.FullScaleError, match="overlaps"):
            full_scale.make_full_scale(given, out, per_split=10, jobs=1)
    assert sorted(p.name for p in (source / "train").iterdir()) == sorted(p.name for p in (tiny_data / "train").iterdir())
