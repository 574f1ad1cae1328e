"""The speed work changes how the loop runs, never what it computes (issue 22).

The loop's first epochs for a seed, on tiny data, with the implementations the
speed work replaced (kept here as references) patched back in, against the loop
as it is: the one-gather flips and crops are bit-for-bit those of flipping then
cropping in turn; the two-pass variance of the model's contrast normalisation
equals torch.var's one-pass figure to float32 rounding: the model's outputs and
gradients agree to rounding, and a seed's first two epochs score as before.
"""

from __future__ import annotations

import pytest
import torch

from cinic.data import dataset as data
from cinic.model import lenet
from cinic.runs.folder import RunFolder
from cinic.training import loop
from cinic.runs.config import make_config
from cinic.training.loader import DeviceData
from test_loader import flip_then_crop


def flip_then_crop_channels_last(x, generator, flip: bool, crop_pad: int) -> torch.Tensor:
    """The reference flips and crops, laid out as the one gather lays its batch out (the layout
    decides the order of the sums in the model's contrast normalisation, so it is fixed here)."""
    return flip_then_crop(x, generator, flip, crop_pad).contiguous(memory_format=torch.channels_last)


def batches_then_flip_then_crop(flip_and_crop):
    """The reference batches: shuffled batches normalised each step, then `flip_and_crop`, as the
    loop drew them before its one gather per batch from the split normalised once."""
    def augmented_batches(self, batch_size, generator, flip, crop_pad):
        for x, y in self.batches(batch_size, generator, shuffle=True):
            yield flip_and_crop(x, generator, flip, crop_pad), y
    return augmented_batches


def one_pass_contrast_normalize(x: torch.Tensor) -> torch.Tensor:
    """The reference: the contrast normalisation with torch.var, as it was before issue 22."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
    return (x - mean) * torch.rsqrt(var + lenet.CONTRAST_EPS)


def two_epochs(root, tmp_path, name: str, preset: str) -> tuple[dict, list]:
    """Weights and metric records after two epochs of the project recipe, seed 7, on one thread."""
    train = data.load_split(root, "train")
    mean, std = data.channel_stats(train.images)
    config = make_config(str(root), preset=preset, epochs=2, batch_size=32, device="cpu", seed=7,
                         mean=[float(v) for v in mean], std=[float(v) for v in std])
    run = RunFolder.create(config.to_dict(), root=tmp_path, name=name)
    t = loop.setup_training(config, train.images, train.labels, torch.device("cpu"))
    results = [loop.train_epoch(t, epoch, run) for epoch in (1, 2)]
    return {k: v.clone() for k, v in t.model.state_dict().items()}, [results, run.batches()]


@pytest.mark.parametrize("preset", ["base", "best"])
def test_the_two_pass_variance_gives_the_models_outputs_and_gradients_to_rounding(preset, monkeypatch):
    spec = lenet.ModelSpec.from_dict({**lenet.get_preset(preset).to_dict(), "input_norm": "contrast"})
    x = (torch.randn(32, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 + 0.5).contiguous(
        memory_format=torch.channels_last)
    y = torch.arange(32) % 10

    def outputs_and_gradients():
        torch.manual_seed(0)
        model = lenet.build_model(spec).to(memory_format=torch.channels_last)
        logits = model(x)
        torch.nn.functional.cross_entropy(logits, y).backward()
        return [logits.detach()] + [p.grad for p in model.parameters()]

    ours = outputs_and_gradients()
    monkeypatch.setattr(lenet, "contrast_normalize", one_pass_contrast_normalize)
    for new, old in zip(ours, outputs_and_gradients(), strict=True):
        torch.testing.assert_close(new, old, rtol=1e-4, atol=1e-6)


def test_a_seeds_first_epochs_score_as_the_replaced_code_did(tiny_data, tmp_path, monkeypatch, one_thread):
    """End to end, both replacements: the same batches in the same order, losses and accuracy as before.
    Weights are not compared: Adam turns float32 rounding in a near-zero gradient into a whole step."""
    ours, (our_results, our_batches) = two_epochs(tiny_data, tmp_path, "ours", "base")
    monkeypatch.setattr(DeviceData, "augmented_batches", batches_then_flip_then_crop(flip_then_crop))
    monkeypatch.setattr(lenet, "contrast_normalize", one_pass_contrast_normalize)
    _, (results_before, batches_before) = two_epochs(tiny_data, tmp_path, "before", "base")
    assert [b["step"] for b in our_batches] == [b["step"] for b in batches_before]
    assert [b["loss"] for b in our_batches] == pytest.approx([b["loss"] for b in batches_before], rel=0.01)
    assert [loss for loss, _ in our_results] == pytest.approx([loss for loss, _ in results_before], rel=0.01)
    # Accuracy counts images: a borderline one may land either side (160 images: 0.625 % each).
    assert [acc for _, acc in our_results] == pytest.approx([acc for _, acc in results_before], abs=1.3)


def test_the_flips_and_crops_alone_leave_a_seeds_training_bit_for_bit(tiny_data, tmp_path, monkeypatch, one_thread):
    """Without the model's input normalisation the only change is the augmentation's: no tolerance."""
    monkeypatch.setattr(lenet, "contrast_normalize", one_pass_contrast_normalize)
    ours, our_metrics = two_epochs(tiny_data, tmp_path, "ours", "base")
    monkeypatch.setattr(DeviceData, "augmented_batches", batches_then_flip_then_crop(flip_then_crop_channels_last))
    before, metrics_before = two_epochs(tiny_data, tmp_path, "before", "base")
    for name in ours:
        assert torch.equal(ours[name], before[name]), name
    assert our_metrics == metrics_before
