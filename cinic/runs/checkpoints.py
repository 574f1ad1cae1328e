"""Checkpoints: what a training saves each epoch, how it is loaded safely, resumed and exported.

A checkpoint is a plain dict of tensors and JSON-able values (model weights,
optimiser state, the model's own spec, the normalisation, the class names, the
epoch and the random state), so it loads with `torch.load(weights_only=True)`
and never runs code. Every load goes through `load_file`; every model built
from a checkpoint goes through `model_from_state`, so a damaged file, an
unsafe one or one of another model gives one message naming the file.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import torch

from cinic.atomic import leftover_temp_files, replace_file
from cinic.errors import CinicError
from cinic.model.classifier import Classifier
from cinic.model.lenet import ModelSpec, ModelSpecError, build_model
from cinic.runs.folder import CHECKPOINTS, RunFolder, write_atomically


class CheckpointError(CinicError):
    """A checkpoint that is missing, damaged, unsafe or of another model."""


# --- saving -------------------------------------------------------------------------
def training_state(model, optimizer, generator, spec: ModelSpec, mean, std, classes,
                   epoch: int, best_valid_acc: float) -> dict:
    """Everything a resume needs and everything a reader needs to use the model."""
    rng = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "spec": spec.to_dict(),
        "mean": list(mean),
        "std": list(std),
        "classes": list(classes),
        "best_valid_acc": best_valid_acc,
        "rng": rng,
    }


def save(run: RunFolder, state: dict, which: str = "last") -> None:
    """Written whole or not at all: a kill mid-write leaves the previous checkpoint."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomically(run.checkpoint_path(which), buffer.getvalue())


# --- loading --------------------------------------------------------------------------
def load_file(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint with the weights-only unpickler, never anything that runs code; its expanded
    size is bounded before anything is read, and its weights and normalisation must be finite."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train the run first or pick another run")
    _check_archive(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        text = str(e).splitlines()[0].split(". ")[0] if str(e) else type(e).__name__  # torch's first sentence
        if "unsupported global" in str(e).lower():  # a class or function by name: what an unsafe pickle needs
            reason = "it holds Python objects that could run code, which is refused"
        else:
            reason = f"it is damaged or not a PyTorch checkpoint ({text[:200]})"
        raise CheckpointError(f"cannot load {path}: {reason}. Use a checkpoint written by "
                              "CINIC-10 Explorer, or retrain the run.") from e
    if not isinstance(state, dict) or "model" not in state or "spec" not in state:
        raise CheckpointError(f"{path} is not a CINIC-10 Explorer checkpoint (no model and spec inside)")
    _check_finite(state, path)
    return state


def _check_archive(path: Path) -> None:
    """torch.save writes a zip of stored (uncompressed) entries: one that is not a zip is damaged, and one
    whose entries expand beyond the file's own size would fill memory before torch could refuse it."""
    import zipfile

    damaged = (f"cannot load {path}: it is damaged or not a PyTorch checkpoint (not a zip archive). "
               "Use a checkpoint written by CINIC-10 Explorer, or retrain the run.")
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise CheckpointError(damaged) from None
    if expanded > path.stat().st_size + EXPANSION_SLACK:
        raise CheckpointError(f"cannot load {path}: its entries expand to {expanded:,} bytes from a "
                              f"{path.stat().st_size:,}-byte file, which no checkpoint written by CINIC-10 Explorer "
                              "does (it is damaged or a decompression bomb); retrain the run")


EXPANSION_SLACK = 1 << 20  # entries are stored, not compressed: their sizes add up to about the file's


def _check_finite(state: dict, path: Path) -> None:
    """Normalisation of three finite numbers (std > 0) and finite weights: NaN ones predict "nan%"."""
    for key in ("mean", "std"):
        values = state.get(key)
        if not (isinstance(values, (list, tuple)) and len(values) == 3 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
            raise CheckpointError(f"{path} is damaged: its {key} should be three finite numbers, "
                                  f"not {str(values)[:80]}; retrain the run")
    if min(state["std"]) <= 0:
        raise CheckpointError(f"{path} is damaged: its std {state['std']} has a value that is not above 0; "
                              "retrain the run")
    weights = state.get("model")
    if isinstance(weights, dict):
        bad = [k for k, v in weights.items()
               if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise CheckpointError(f"{path} holds weights that are not finite numbers (NaN or infinity, in "
                                  f"{', '.join(bad[:3])}): the training diverged; retrain the run with a "
                                  "lower learning rate")


def load(run: RunFolder, which: str = "best") -> dict:
    return load_file(run.checkpoint_path(which))


def load_weights(model: torch.nn.Module, state: dict, path: Path) -> None:
    """Put a checkpoint's weights into `model`, explaining a misfit instead of a shape dump: another
    model's checkpoint, or weights that do not match the very spec they came with (damage)."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as e:
        if state.get("spec") == model.spec.to_dict():
            raise CheckpointError(f"{path} does not match the model it describes ({_first_detail(e)}); "
                                  "it is from another model or damaged") from e
        raise CheckpointError(f"{path} holds another model ({_describe_spec(state.get('spec'))}) than the one "
                              "asked for; open it with the run it came from, or start a new run") from e


def model_from_state(state: dict, path: Path):
    """(model, spec) rebuilt from a loaded checkpoint's own spec, with its weights."""
    try:
        spec = ModelSpec.from_dict(state["spec"])
        model = build_model(spec)  # its parameter count is checked before anything is allocated
    except (ModelSpecError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} describes no buildable model ({_first_detail(e)}); "
                              "it is damaged") from e
    load_weights(model, state, path)
    return model, spec


def load_model(run: RunFolder, which: str = "best", device="cpu") -> Classifier:
    """The Classifier of a run's checkpoint, its network on `device` in eval mode."""
    state = load(run, which)
    network, spec = model_from_state(state, run.checkpoint_path(which))
    classes = state.get("classes")
    if not (isinstance(classes, list) and all(isinstance(name, str) for name in classes)):
        raise CheckpointError(f"{run.checkpoint_path(which)} is damaged: its class names should be a list of "
                              f"names, not {str(classes)[:80]}; retrain the run")
    return Classifier(network.to(device), state["mean"], state["std"], classes, spec=spec,
                      epoch=state.get("epoch"), best_valid_acc=state.get("best_valid_acc"), run_path=run.path)


def _describe_spec(spec) -> str:
    try:
        return ModelSpec.from_dict(spec).describe()
    except (ModelSpecError, TypeError, KeyError, AttributeError):
        return "an unreadable model spec"


def _first_detail(error: Exception) -> str:
    """The telling line of an error: load_state_dict's first line is only a heading, and a
    shape mismatch says more than a list of key names."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    details = lines[1:] if len(lines) > 1 and lines[0].endswith(":") else lines
    detail = next((line for line in details if line.startswith("size mismatch")), details[0]).rstrip(".")
    return detail if len(detail) <= 200 else detail[:197] + "..."


# --- resuming ---------------------------------------------------------------------------
def restore_training(run: RunFolder, model, optimizer, generator, device) -> tuple[int, float]:
    """Model, optimiser and random state from `last.pt`; returns (next epoch, best valid acc)."""
    if not run.has_checkpoint("last"):
        raise CheckpointError(f"{run.name} has no completed epoch to resume from; start it again instead")
    for which in CHECKPOINTS:  # half a checkpoint left by a kill mid-write; only we write these
        for stale in leftover_temp_files(run.checkpoint_path(which)):
            stale.unlink(missing_ok=True)
    path = run.checkpoint_path("last")
    state = load_file(path)
    load_weights(model, state, path)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    generator.set_state(state["rng"]["generator"])
    if "cuda" in state["rng"] and device.type == "cuda":
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state["epoch"] + 1, float(state.get("best_valid_acc", -1.0))


# --- exporting --------------------------------------------------------------------------
def export_safetensors(run: RunFolder, out: Path, which: str = "best") -> Path:
    """The weights and what is needed to use them (spec, normalisation, classes), no code."""
    from safetensors.torch import save

    state = load(run, which)
    model_from_state(state, run.checkpoint_path(which))  # never export weights that misfit their spec
    metadata = {"spec": json.dumps(state["spec"]), "mean": json.dumps(state["mean"]),
                "std": json.dumps(state["std"]), "classes": json.dumps(state["classes"]),
                "epoch": str(state["epoch"])}
    tensors = {k: v.contiguous() for k, v in state["model"].items()}
    replace_file(Path(out), lambda handle: handle.write(save(tensors, metadata=metadata)))
    return Path(out)
