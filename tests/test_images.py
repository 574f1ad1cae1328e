"""cinic/data/images.py: untrusted files are refused with clear messages; any mode becomes 32x32 RGB."""

from __future__ import annotations

import io
import time
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from cinic.data import images
from cinic.data.images import ImageError, open_image, probe_image, to_model_input
from made_images import header_only_png, image_bytes


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# --- opening: every source kind ------------------------------------------------------------
def test_opens_a_path_bytes_and_a_file_like_alike(tmp_path):
    picture = noise(32, 32)
    path = tmp_path / "a.png"
    picture.save(path)
    expected = np.asarray(picture)
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        array, notes = to_model_input(open_image(source))
        assert array.dtype == np.uint8 and array.shape == (32, 32, 3)
        assert np.array_equal(array, expected)
        assert notes == []


def test_probe_reads_the_header_only(tmp_path):
    path = tmp_path / "wide.png"
    noise(48, 20).convert("L").save(path)
    info = probe_image(path)
    assert (info.format, info.width, info.height, info.mode) == ("PNG", 48, 20, "L")


# --- refusals, each with its message -------------------------------------------------------
def test_empty_file_is_refused_by_name(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as err:
        open_image(path)
    assert str(err.value) == (f"{path} is empty (0 bytes), so it holds no image: "
                              "choose a PNG, JPEG, BMP, GIF, WEBP or TIFF file.")


def test_not_an_image_is_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are my notes, not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.png is not an image file .*choose a PNG, JPEG"):
        open_image(path)


def test_format_outside_the_allowed_list_is_named(tmp_path):
    data = image_bytes(noise(16, 16), "ICO")
    with pytest.raises(ImageError) as err:
        open_image(data, name="icon.ico")
    assert str(err.value).startswith("icon.ico is in ICO format, which is not accepted: convert it to PNG")


def test_uploaded_file_name_is_used_in_messages():
    upload = io.BytesIO(b"GIF89a-but-not-really")
    upload.name = "cat.gif"
    with pytest.raises(ImageError, match=r"^cat\.gif "):
        open_image(upload)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(ImageError, match=r"no such file: .*nowhere\.png: check the path"):
        open_image(tmp_path / "nowhere.png")
    with pytest.raises(ImageError, match=r"is a folder, not an image file"):
        open_image(tmp_path)


def test_too_many_bytes_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    noise(64, 64).save(path)
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    with pytest.raises(ImageError, match=r"big\.png is .* more than the 1,000 bytes allowed"):
        open_image(path)
    with pytest.raises(ImageError, match=r"more than the 1,000 bytes allowed"):
        open_image(io.BytesIO(path.read_bytes()))


def test_decompression_bomb_is_refused_from_the_header_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(header_only_png(20_000, 20_000))
    assert path.stat().st_size < 2_000  # 1.2 GB of pixels claimed by a tiny file

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    started = time.perf_counter()
    with pytest.raises(ImageError) as err:
        open_image(path)
    assert time.perf_counter() - started < 1.0
    assert str(err.value) == (f"{path} is too large a picture (400.0 megapixels); at most 16.8 megapixels "
                              "(4096x4096) are accepted: shrink it, then try again.")


def test_pictures_over_max_pixels_are_refused_by_our_limit(monkeypatch):
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels were decoded"))
    # 5000x5000 is below Pillow's own bomb limit (89M pixels): this is our check, from the header.
    data = header_only_png(5000, 5000)
    expected = ("big.png is too large a picture (5000x5000 pixels, 25.0 megapixels); at most 16.8 megapixels "
                "(4096x4096) are accepted: shrink it, then try again.")
    with pytest.raises(ImageError) as err:
        open_image(data, name="big.png")
    assert str(err.value) == expected
    with pytest.raises(ImageError) as err:
        probe_image(data, name="big.png")
    assert str(err.value) == expected


@pytest.mark.parametrize("side", [20, 30])  # 400 px: Pillow warns; 900 px: Pillow errors
def test_pillow_bomb_warning_becomes_an_error(monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    filters_before = list(warnings.filters)
    with pytest.raises(ImageError, match=r"x\.png is too large a picture \(0\.0 megapixels\)") as err:
        open_image(image_bytes(noise(side, side)), name="x.png")
    assert "bomb" not in str(err.value) and "DOS" not in str(err.value)  # plain words, not Pillow's
    assert warnings.filters == filters_before  # no process-wide side effect


def test_truncated_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "cut.png"
    whole = image_bytes(noise(64, 64))
    path.write_bytes(whole[: len(whole) // 2])
    probe_image(path)  # the header is intact: only decoding finds the damage
    with pytest.raises(ImageError, match=rf"{path} is truncated or corrupt and cannot be decoded .*re-download"):
        open_image(path)


# --- conversion to model input ---------------------------------------------------------------
def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 128, 65535, 1000]] * 4, dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    img = open_image(path)
    assert img.mode.startswith("I")
    array, notes = to_model_input(img.resize((32, 32), Image.Resampling.NEAREST))
    row = array[0, :, 0]
    assert row[0] == 0 and row[8] == 128 and row[16] == 255 and row[24] == 4
    assert np.array_equal(array[..., 0], array[..., 2])
    assert any(n.startswith("converted from 16-bit grayscale (I;16") for n in notes)


@pytest.mark.parametrize("mode, values, expected", [
    ("I", [0, 255, 128], [0, 255, 128]),               # already in 0..255
    ("I", [0, 65535, 257 * 64], [0, 255, 64]),          # 16-bit data held in 32-bit ints
    ("F", [0.0, 1.0, 0.5], [0, 255, 128]),              # floats in [0, 1]
])
def test_high_depth_grayscale_modes(mode, values, expected):
    dtype = np.float32 if mode == "F" else np.int32
    img = Image.fromarray(np.resize(np.array(values, dtype=dtype), (32, 32)))
    assert img.mode == mode
    array, notes = to_model_input(img)
    assert sorted(set(array[0, :, 1].tolist())) == sorted(expected)
    assert notes and notes[0].startswith(f"converted from {images._mode_words(mode)} to")


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_files_become_rgb(fmt):
    data = image_bytes(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), fmt)  # pure red in ink
    img = open_image(data, name=f"red.{fmt.lower()}")
    assert img.mode == "CMYK"
    array, notes = to_model_input(img)
    red, green, blue = array[16, 16].astype(int)
    assert red > 200 and green < 60 and blue < 60
    assert notes == ["converted from CMYK to RGB"]


def test_palette_png_with_transparency_is_composited_on_white():
    img = Image.new("P", (32, 32), 0)
    img.putpalette([10, 20, 30] + [200, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 16, 32))
    img.info["transparency"] = 0
    opened = open_image(image_bytes(img, transparency=0))
    assert opened.mode == "P"
    array, notes = to_model_input(opened)
    assert array[5, 5].tolist() == [200, 0, 0]
    assert array[5, 25].tolist() == [255, 255, 255]  # the transparent colour shows as white
    assert notes == ["converted from palette (P) to RGB, transparent parts made white"]


def test_rgba_is_composited_on_white():
    pixels = np.zeros((32, 32, 4), dtype=np.uint8)
    pixels[:, :16] = (0, 0, 255, 255)   # opaque blue
    pixels[:, 16:] = (0, 0, 0, 0)       # fully transparent
    pixels[0, 0] = (0, 0, 0, 128)       # half-transparent black
    array, notes = to_model_input(open_image(image_bytes(Image.fromarray(pixels))))
    assert array[10, 5].tolist() == [0, 0, 255]
    assert array[10, 20].tolist() == [255, 255, 255]
    assert all(abs(v - 127) <= 1 for v in array[0, 0].tolist())
    assert notes == ["converted from RGBA to RGB, transparent parts made white"]


@pytest.mark.parametrize("mode, note", [
    ("L", "converted from grayscale (L) to RGB"),
    ("1", "converted from black-and-white (1-bit) (1) to RGB"),
    ("LA", "converted from grayscale with transparency (LA) to RGB, transparent parts made white"),
])
def test_gray_modes_become_three_equal_channels(mode, note):
    img = noise(32, 32).convert(mode)
    array, notes = to_model_input(open_image(image_bytes(img)))
    assert array.shape == (32, 32, 3)
    assert np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2])
    assert notes == [note]


def test_animated_gif_gives_its_first_frame_and_says_so():
    colours = [(255, 0, 0)] + [(0, 20 * i, 255 - 20 * i) for i in range(1, 12)]  # all differ: Pillow merges equal frames
    frames = [Image.new("RGB", (32, 32), c) for c in colours]
    data = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    array, notes = to_model_input(open_image(data, name="anim.gif"))
    assert array[16, 16].tolist() == [255, 0, 0]
    assert notes[0] == "used the first of 12 frames"


def test_big_photo_is_resized_and_the_notes_say_how():
    array, notes = to_model_input(open_image(image_bytes(Image.new("RGB", (640, 480), (30, 140, 90)))))
    assert array.shape == (32, 32, 3)
    assert np.abs(array.astype(int) - [30, 140, 90]).max() <= 1  # a good filter keeps flat colour
    assert notes == ["resized from 640x480 to 32x32",
                     "the 640x480 picture is not square, so it was squeezed to fit"]


def test_camera_orientation_is_applied():
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)
    pixels[:, :32] = (255, 0, 0)     # left half red
    pixels[:, 32:] = (0, 0, 255)     # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6                 # "rotate 90 clockwise to view"
    data = image_bytes(Image.fromarray(pixels), "JPEG", exif=exif.tobytes(), quality=95)
    array, notes = to_model_input(open_image(data))
    assert notes[0] == "turned upright as its EXIF orientation (6) asks"
    assert array[4, 16, 0] > 200 and array[4, 16, 2] < 60      # red is now on top
    assert array[28, 16, 2] > 200 and array[28, 16, 0] < 60    # blue at the bottom


def test_decode_chunk_keeps_going_past_broken_files(tmp_path):
    good = tmp_path / "good.png"
    noise(32, 32, seed=3).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    array, errors, adjusted = images.decode_chunk([str(good), str(bad), str(good)])
    assert array.shape == (3, 32, 32, 3)
    assert np.array_equal(array[0], np.asarray(Image.open(good))) and not array[1].any()
    assert [index for index, _ in errors] == [1] and "bad.png is empty" in errors[0][1]
    assert adjusted == 0


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_float_tiff_without_a_finite_pixel_has_no_valid_pixels(value):
    """Issue 20, item 12: refused in words, with no numpy warning, not classified as a black image."""
    data = image_bytes(Image.fromarray(np.full((8, 8), value, dtype=np.float32), mode="F"), "TIFF")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="no valid pixels"):
            to_model_input(open_image(data, name="nan.tif"))


def test_a_float_tiff_with_some_nan_pixels_uses_the_finite_ones():
    values = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    values[0, :4] = np.nan
    values[1, :2] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        picture, notes = to_model_input(open_image(image_bytes(Image.fromarray(values, mode="F"), "TIFF")))
    assert picture.shape == (32, 32, 3) and picture.max() == 255 and any("not finite" in n for n in notes)
