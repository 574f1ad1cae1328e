"""A run's model for use elsewhere: safetensors (weights only) or ONNX (a whole graph, any runtime).

The ONNX graph takes what a photo gives: uint8 RGB images, N x 3 x 32 x 32,
values 0..255, any N. The normalisation (x / 255 - mean) / std with the
training split's exact mean and std is inside the graph, and it returns both
the logits and the softmax probabilities, so a user needs no code of ours.
Class names, mean, std, the model spec and the checkpoint's epoch are in the
file's metadata too. onnx and onnxscript are imported only here, when asked.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from cinic.runs.checkpoints import export_safetensors, load_model
from cinic.errors import CinicError
from cinic.outputs import output_file, write_output
from cinic.runs.folder import RunFolder

ONNX_INPUT = "images"
ONNX_OUTPUTS = ("logits", "probabilities")
ONNX_INPUT_TEXT = "uint8 RGB images N x 3 x 32 x 32, values 0..255 (normalised inside the graph)"


class ExportError(CinicError):
    """An export that cannot be written where asked, or in the format asked."""


def check_destination(run: RunFolder, out, suffixes=None, example: str | None = None) -> Path:
    """The file to write for `out` (see cinic.outputs.output_file), outside every run folder and never
    over what the run reads: an export or a report never lands among (or over) a run's files."""
    return output_file(out, suffixes, inputs=[run.path], example=example or f"{run.name}.onnx")


def export_onnx(run: RunFolder, out, which: str = "best") -> Path:
    """The run's checkpoint as an ONNX file with a dynamic batch axis (see the module's doc)."""
    import onnx  # heavy, and only this export needs it

    out = check_destination(run, out)
    classifier = load_model(run, which, "cpu")
    wrapped = classifier.with_preprocessing()
    example = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    program = torch.onnx.export(wrapped, (example,), dynamo=True, verbose=False,
                                input_names=[ONNX_INPUT], output_names=list(ONNX_OUTPUTS),
                                dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    proto = program.model_proto
    metadata = {"input": ONNX_INPUT_TEXT, "classes": json.dumps(list(classifier.classes)),
                "mean": json.dumps(list(classifier.mean)), "std": json.dumps(list(classifier.std)),
                "spec": json.dumps(classifier.spec.to_dict()), "epoch": str(classifier.epoch),
                "run": run.name, "checkpoint": which}
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"CINIC-10 Explorer run {run.name} ({classifier.spec.describe()}); input: {ONNX_INPUT_TEXT}"
    onnx.checker.check_model(proto)
    return write_output(out, lambda handle: handle.write(proto.SerializeToString()))


FORMATS = {"safetensors": ".safetensors", "onnx": ".onnx"}


def format_of(out, fmt: str | None = None) -> str:
    """The format asked for, else the one the file name says, else safetensors."""
    if fmt is None:
        fmt = next((name for name, suffix in FORMATS.items() if str(out).lower().endswith(suffix)), "safetensors")
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def export_model(run: RunFolder, out, fmt: str | None = None, which: str = "best") -> tuple[Path, str]:
    """(the file written, its format): ONNX or safetensors, by `fmt` or the file's suffix."""
    fmt = format_of(out, fmt)
    if fmt == "onnx":
        return export_onnx(run, out, which), fmt
    out = check_destination(run, out)
    try:
        return export_safetensors(run, out, which), fmt
    except OSError as e:  # a full disk: written whole or not at all (replace_file), said in one line
        raise ExportError(f"could not write {out}: {e.strerror or e}; nothing was written there") from e


def export_bytes(run: RunFolder, fmt: str, which: str = "best") -> bytes:
    """The export as bytes (for a download), written through a temporary file."""
    with tempfile.TemporaryDirectory(prefix="cinic-export-") as folder:
        out, _ = export_model(run, Path(folder) / f"{run.name}{FORMATS[format_of('', fmt)]}", fmt, which)
        return out.read_bytes()
