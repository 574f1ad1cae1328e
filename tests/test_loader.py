"""cinic/training/loader.py: on-device flips and crops, and DeviceData's batches.

The augmentation tests check the content, not just the shape: every flipped
image is its exact mirror, every crop is the window at the offsets the
generator drew, and over many images each outcome occurs at its rate. The
draws are part of the contract (a run is reproduced from its seed), so the
tests draw the same numbers from a generator with the same seed.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cinic.training import loader
from cinic.training.loader import DeviceData, augment_batch, fits_on_device, normalize


def distinct_images(n: int, c: int = 3, size: int = 6, seed: int = 0) -> torch.Tensor:
    """Random images, none equal to its mirror, with no zero pixel (so padding is told apart)."""
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) + 0.5


def drawn_flips(n: int, seed: int) -> torch.Tensor:
    """Which images augment_batch flips for this seed: its first draw, one uniform per image."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5


def drawn_offsets(n: int, pad: int, seed: int, flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The crop offsets (dy, dx) augment_batch draws for this seed, after the flips' draw when flipping."""
    g = torch.Generator().manual_seed(seed)
    if flip:
        torch.rand(n, generator=g)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    return dy, dx


def window(image: torch.Tensor, pad: int, dy: int, dx: int) -> torch.Tensor:
    """The image's H x W window at (dy, dx) of its zero-padded copy: content moved by (pad-dy, pad-dx)."""
    h, w = image.shape[-2:]
    return F.pad(image, (pad,) * 4)[..., dy:dy + h, dx:dx + w]


def found_offsets(out: torch.Tensor, x: torch.Tensor, pad: int) -> torch.Tensor:
    """For each output image, the one (dy, dx) whose padded window it equals exactly; fails if none or several."""
    n, side = x.shape[0], 2 * pad + 1
    matches = torch.stack([(out == window(x, pad, dy, dx)).flatten(1).all(1)
                           for dy in range(side) for dx in range(side)], dim=1)
    assert torch.equal(matches.sum(1), torch.ones(n, dtype=torch.long)), "an output is no exact window"
    return matches.int().argmax(1)  # dy * side + dx


# --- flips ---------------------------------------------------------------------------------------
def test_flip_mirrors_exactly_the_images_its_draw_picks():
    x = distinct_images(64)
    out = augment_batch(x, torch.Generator().manual_seed(5), flip=True, crop_pad=0)
    flipped = drawn_flips(64, seed=5)
    assert 0 < flipped.sum() < 64  # the seed picks some of each, so both branches are checked
    assert torch.equal(out[flipped], x[flipped].flip(3))  # a left-right mirror, every pixel
    assert torch.equal(out[~flipped], x[~flipped])


def test_flips_happen_to_about_half_of_many_images():
    x = distinct_images(4000, c=1, size=4)
    out = augment_batch(x, torch.Generator().manual_seed(1), flip=True, crop_pad=0)
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    unchanged = (out == x).flatten(1).all(1)
    assert torch.equal(mirrored ^ unchanged, torch.ones(4000, dtype=torch.bool))  # each is one or the other
    assert 0.45 < mirrored.float().mean() < 0.55  # p = 0.5; 6 standard deviations either side


def test_no_flip_and_no_padding_leave_the_batch_as_it_is():
    x = distinct_images(16)
    assert torch.equal(augment_batch(x, torch.Generator().manual_seed(0), flip=False, crop_pad=0), x)


# --- crops ---------------------------------------------------------------------------------------
def test_crops_move_content_by_the_drawn_offsets():
    pad, n = 2, 64
    x = distinct_images(n)
    out = augment_batch(x, torch.Generator().manual_seed(7), flip=False, crop_pad=pad)
    dy, dx = drawn_offsets(n, pad, seed=7, flip=False)
    assert out.shape == x.shape
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 1  # the seed moves images differently
    for i in range(n):
        assert torch.equal(out[i], window(x[i], pad, dy[i], dx[i])), i


def test_an_offset_moves_the_content_the_way_it_says():
    """dy = dx = 0 takes the top-left window: the image moves right and down by the padding."""
    x = torch.arange(1, 17, dtype=torch.float32).view(1, 1, 4, 4)
    moved = window(x, 1, 0, 0)
    assert moved[0, 0, 0].tolist() == [0, 0, 0, 0] and moved[0, 0, :, 0].tolist() == [0, 0, 0, 0]
    assert torch.equal(moved[0, 0, 1:, 1:], x[0, 0, :3, :3])


def test_flip_then_crop_uses_both_draws_in_turn():
    pad, n = 1, 48
    x = distinct_images(n)
    out = augment_batch(x, torch.Generator().manual_seed(11), flip=True, crop_pad=pad)
    flipped = drawn_flips(n, seed=11)
    dy, dx = drawn_offsets(n, pad, seed=11, flip=True)
    for i in range(n):
        image = x[i].flip(2) if flipped[i] else x[i]
        assert torch.equal(out[i], window(image, pad, dy[i], dx[i])), i


def test_every_offset_occurs_at_about_its_rate():
    pad, n = 2, 5000
    side = 2 * pad + 1
    x = distinct_images(n, c=1, size=5)
    out = augment_batch(x, torch.Generator().manual_seed(2), flip=False, crop_pad=pad)
    counts = torch.bincount(found_offsets(out, x, pad), minlength=side * side)
    expected = n / side ** 2  # 200 each, standard deviation about 14
    assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected, counts.tolist()


def flip_then_crop(x: torch.Tensor, generator: torch.Generator, flip: bool, crop_pad: int) -> torch.Tensor:
    """The reference: flipping then cropping in turn, as the loop did before the one-gather version."""
    n = x.shape[0]
    if flip:
        mask = torch.rand(n, device=x.device, generator=generator) < 0.5
        x = torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)
    if crop_pad > 0:
        c, h, w = x.shape[1:]
        padded = F.pad(x, (crop_pad,) * 4)
        dy = torch.randint(0, 2 * crop_pad + 1, (n,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * crop_pad + 1, (n,), device=x.device, generator=generator)
        rows = dy.view(n, 1) + torch.arange(h, device=x.device).view(1, h)
        cols = dx.view(n, 1) + torch.arange(w, device=x.device).view(1, w)
        padded = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, padded.shape[3]))
        x = padded.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))
    return x


@pytest.mark.parametrize("flip, pad", [(True, 2), (True, 0), (False, 2), (True, 4)])
@pytest.mark.parametrize("channels_last", [True, False])
def test_one_gather_computes_what_flip_then_crop_did_bit_for_bit(flip, pad, channels_last):
    x = distinct_images(64, size=8) - 0.7  # negative values too, as normalised images have
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ours, reference = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(3):  # consecutive batches: the generator must be left where the reference leaves it
        out = augment_batch(x, ours, flip, pad)
        assert torch.equal(out, flip_then_crop(x, reference, flip, pad))
        assert out.is_contiguous(memory_format=torch.channels_last)  # what the convolutions want


@pytest.mark.parametrize("room", [True, False])  # without room for the padded copy: per-batch, the same
@pytest.mark.parametrize("flip, pad", [(True, 2), (False, 2), (True, 0), (False, 0)])
def test_augmented_batches_are_shuffled_batches_flipped_then_cropped_bit_for_bit(flip, pad, room, monkeypatch):
    images = torch.randint(0, 256, (70, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    data = DeviceData(images, torch.arange(70), "cpu", [0.4, 0.5, 0.6], [0.2, 0.25, 0.3], channels_last=True)
    monkeypatch.setattr(loader, "fits_in_memory", lambda nbytes, device: room)  # the images are held already
    ours, reference = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    for _epoch in range(2):  # the generator is left where the reference leaves it, epoch after epoch
        expected = [(flip_then_crop(x, reference, flip, pad), y)
                    for x, y in data.batches(32, reference, shuffle=True)]
        got = list(data.augmented_batches(32, ours, flip, pad))
        assert len(got) == len(expected) == 3
        for (x, y), (x_expected, y_expected) in zip(got, expected):
            assert torch.equal(y, y_expected) and torch.equal(x, x_expected)
            assert x.is_contiguous(memory_format=torch.channels_last)
    assert (data._padded[0] is not None) == (room and (flip or pad > 0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here (bench/device_check.sh runs it on one)")
def test_one_gather_on_the_gpu_computes_what_flip_then_crop_did():
    x = (distinct_images(256, size=32) - 0.7).cuda().contiguous(memory_format=torch.channels_last)
    ours, reference = torch.Generator("cuda").manual_seed(3), torch.Generator("cuda").manual_seed(3)
    for _ in range(3):
        assert torch.equal(augment_batch(x, ours, True, 2), flip_then_crop(x, reference, True, 2))


# --- DeviceData ----------------------------------------------------------------------------------
MEAN, STD = [0.1, 0.5, 0.9], [0.2, 0.3, 0.4]  # a different value per channel, so channels cannot mix


def device_data(n: int = 37, channels_last: bool = False) -> tuple[DeviceData, torch.Tensor]:
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    # Label i for image i: every label says which image a batch row came from.
    return DeviceData(images, torch.arange(n), torch.device("cpu"), MEAN, STD, channels_last), images


def expected_normalised(images: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def test_shuffled_batches_cover_every_image_exactly_once_per_epoch():
    data, images = device_data(37)
    g = torch.Generator().manual_seed(0)
    orders = []
    for _epoch in range(2):
        batches = list(data.batches(8, g, shuffle=True))
        assert [len(y) for _, y in batches] == [8, 8, 8, 8, 5]
        order = torch.cat([y for _, y in batches])
        assert sorted(order.tolist()) == list(range(37))
        for x, y in batches:  # each row is the image its label names, normalised
            assert torch.allclose(x, expected_normalised(images[y]), atol=1e-6)
        orders.append(order.tolist())
    assert orders[0] != list(range(37)) and orders[0] != orders[1]  # shuffled, and anew each epoch


def test_unshuffled_batches_keep_the_order():
    data, _ = device_data(10)
    assert torch.cat([y for _, y in data.batches(4)]).tolist() == list(range(10))


def test_normalisation_is_per_channel_mean_and_std():
    data, images = device_data(37)
    x, y = data.batch(torch.tensor([3, 0, 36]))
    assert y.tolist() == [3, 0, 36] and x.dtype == torch.float32
    assert torch.allclose(x, expected_normalised(images[[3, 0, 36]]), atol=1e-6)
    assert torch.allclose(normalize(images, torch.tensor(MEAN), torch.tensor(STD)), expected_normalised(images),
                          atol=1e-6)


def test_channels_last_layout_only_when_asked():
    plain, images = device_data(6)
    nhwc, _ = device_data(6, channels_last=True)
    index = torch.arange(6)
    x_plain, _ = plain.batch(index)
    x_nhwc, _ = nhwc.batch(index)
    assert x_nhwc.is_contiguous(memory_format=torch.channels_last)
    assert not x_plain.is_contiguous(memory_format=torch.channels_last) and x_plain.is_contiguous()
    assert torch.equal(x_plain, x_nhwc)  # the same values, only laid out differently


def test_the_cpu_always_holds_the_images():
    data, images = device_data(4)
    assert fits_on_device(images, torch.device("cpu")) and data.on_device
