"""cinic/runs/export.py: ONNX that predicts what the project predicts, checked by onnxruntime; where exports go."""

from __future__ import annotations

import json

import pytest

from cinic import cli
from cinic.runs.export import ExportError, export_model, format_of
from cinic.outputs import OutputError
from cinic.runs.folder import RunFolder


@pytest.fixture(scope="module")
def sample_run(sample_root, train_finished) -> RunFolder:
    """`best` (batch norm, dropout: what must behave as in evaluation) trained one epoch on the real sample,
    with the project recipe's contrast-normalised input and flip TTA, which the graph must hold too."""
    from cinic.runs.config import TrainConfig

    return train_finished(sample_root, "best-1", preset="best", batch_size=TrainConfig.batch_size)


@pytest.mark.slow
def test_onnx_gives_the_projects_prediction_on_every_sample_test_image(sample_run, sample_root, tmp_path):
    import numpy as np
    import onnx
    import onnxruntime

    from cinic.runs.checkpoints import load_model
    from cinic.data.dataset import load_split
    from cinic.analysis.evaluate import predict_probs

    assert cli.main(["export", str(sample_run.path), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    test = load_split(sample_root, "test")
    classifier = load_model(sample_run, "best", "cpu")
    assert (classifier.spec.input_norm, classifier.spec.flip_tta) == ("contrast", True)  # kept by the checkpoint
    ours = predict_probs(classifier, test.images).numpy()

    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    [images] = session.get_inputs()
    assert (images.name, images.type, images.shape[1:]) == ("images", "tensor(uint8)", [3, 32, 32])
    logits, theirs = session.run(["logits", "probabilities"], {"images": test.images.numpy()})
    one = session.run(["probabilities"], {"images": test.images[:1].numpy()})[0]  # the batch axis is free

    agree = (theirs.argmax(1) == ours.argmax(1)).mean()
    worst = float(np.abs(theirs - ours).max())
    print(f"\nONNX vs predict_probs on {len(ours)} test images: top-1 agreement {agree:.4%}, "
          f"largest probability difference {worst:.2e}")
    assert len(ours) == 1017 and agree == 1.0
    assert worst < 1e-3
    assert np.abs(one[0] - ours[0]).max() < 1e-3
    assert np.allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), theirs, atol=1e-6)
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(metadata["classes"]) == list(test.classes)
    assert json.loads(metadata["mean"]) == pytest.approx(classifier.mean)
    assert "uint8" in metadata["input"]
    assert json.loads(metadata["spec"]) == classifier.spec.to_dict()


def test_an_export_never_lands_in_the_run_folder(tmp_path, capsys):
    run = RunFolder.create({"epochs": 1}, root=tmp_path / "runs", name="r")
    for target in (run.path / "best.pt", run.path / "config.json", run.path / "model.onnx"):
        with pytest.raises(OutputError, match="inside the run folder"):
            export_model(run, target, "onnx")
        assert cli.main(["export", str(run.path), "--out", str(target)]) == 2
    assert "inside the run folder" in capsys.readouterr().err
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "status.json"]
    with pytest.raises(OutputError, match="is a folder"):
        export_model(run, tmp_path, "onnx")
    with pytest.raises(OutputError, match="no folder"):
        export_model(run, tmp_path / "missing" / "m.onnx", "onnx")


def test_the_format_follows_the_file_name_unless_given():
    assert format_of("m.onnx") == "onnx" and format_of("M.ONNX") == "onnx"
    assert format_of("m.safetensors") == "safetensors" and format_of("weights.bin") == "safetensors"
    assert format_of("m.onnx", "safetensors") == "safetensors"
    with pytest.raises(ExportError, match="unknown export format"):
        format_of("m.x", "pickle")


def test_export_bytes_gives_a_safetensors_file_that_loads(tmp_path):
    from safetensors import safe_open

    from cinic.runs import checkpoints
    from cinic.runs.export import export_bytes
    from cinic.model.lenet import PRESETS, build_model

    run = RunFolder.create({"epochs": 1}, root=tmp_path / "runs", name="r")
    spec = PRESETS["base"]
    checkpoints.save(run, {"model": build_model(spec).state_dict(), "spec": spec.to_dict(), "epoch": 1,
                           "mean": [0.5] * 3, "std": [0.25] * 3, "classes": ["c"] * 10}, "best")
    (tmp_path / "m.safetensors").write_bytes(export_bytes(run, "safetensors"))
    with safe_open(str(tmp_path / "m.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["spec"]) == spec.to_dict()
        assert set(f.keys()) == set(build_model(spec).state_dict())
    assert sorted(p.name for p in run.path.iterdir()) == ["best.pt", "config.json", "status.json"]
