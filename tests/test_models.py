"""cinic/model/lenet.py: presets, shape checks, spec round trips, init and the logits contract."""

import json
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from cinic.model.lenet import (PRESET_ALIASES, PRESET_NOTES, PRESETS, ConvSpec, ModelSpec, ModelSpecError,
                          build_model, contrast_normalize, count_parameters, flat_features, format_summary, get_preset,
                          summarize, validate_spec)


# Parameter counts worked out by hand from the layer sizes in DESIGN.md, e.g. base:
# conv 3*6*25+6 = 456, conv 6*16*25+16 = 2,416, fc 400*120+120 = 48,120,
# 120*84+84 = 10,164, 84*10+10 = 850: 62,006.
REPORT_MODELS = {
    "base": (400, 62_006, "conv 3→6 k5, pool, conv 6→16 k5, pool, fc 400→120→84→10"),
    "stepping": (576, 168 + 1_552 + 69_240 + 10_164 + 850,
                 "conv 3→6 k3, pool, conv 6→16 k4, pool, fc 576→120→84→10"),
    # BN adds 2 parameters per channel: 64 and 128.
    "best": (2304, 896 + 64 + 32_832 + 128 + 1_383_000 + 120_200 + 2_010,
             "conv 3→32 k3, pool, BN, conv 32→64 k4, pool, BN, fc 2304→600→200→10"),
}


@pytest.mark.parametrize("name", REPORT_MODELS)
def test_report_presets_match_the_design(name):
    flat, params, description = REPORT_MODELS[name]
    spec = PRESETS[name]
    assert flat_features(spec) == flat
    assert count_parameters(build_model(spec)) == params
    assert spec.describe() == description
    assert build_model(spec)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_variants_change_one_thing_from_base():
    base = PRESETS["base"]
    assert set(PRESET_NOTES) == set(PRESETS)
    assert PRESETS["more-maps"].conv == (ConvSpec(32, 5), ConvSpec(64, 5))
    assert [c.batch_norm for c in PRESETS["batchnorm"].conv] == [True, True]
    assert PRESETS["big-fc"].fc == (600, 200) and PRESETS["big-fc"].conv == base.conv
    assert PRESETS["xavier"].init == "xavier" and PRESETS["xavier"].conv == base.conv
    assert len(set(PRESETS.values())) == len(PRESETS), "two presets are the same network"
    for name in PRESETS:
        assert count_parameters(build_model(get_preset(name))) > 0


def test_alias_resolves_and_unknown_preset_lists_choices():
    assert get_preset("small-filters") == PRESETS[PRESET_ALIASES["small-filters"]]
    with pytest.raises(ModelSpecError, match="unknown model preset 'lenet'.*base.*small-filters"):
        get_preset("lenet")


def test_layer_order_is_conv_activation_pool_batchnorm():
    model = build_model(PRESETS["best"])
    kinds = [type(m) for m in model.features]
    assert kinds == [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.BatchNorm2d] * 2


def test_kernel_too_big_for_pooled_input_names_the_layer():
    # 32 -k3-> 30 -pool-> 15 -k3-> 13 -pool-> 6 -k3-> 4 -pool-> 2, then a 5x5 kernel
    spec = ModelSpec(conv=(ConvSpec(8, 3), ConvSpec(8, 3), ConvSpec(8, 3), ConvSpec(8, 5)), fc=())
    with pytest.raises(ModelSpecError, match=r"conv layer 4 \(kernel 5\) needs at least 5x5 input "
                                             r"but gets 2x2 after the previous pooling"):
        build_model(spec)


def test_pooling_a_1x1_map_is_refused():
    spec = ModelSpec(conv=(ConvSpec(6, 5), ConvSpec(16, 5), ConvSpec(16, 5)), fc=(84,))
    with pytest.raises(ModelSpecError, match=r"conv layer 3 \(kernel 5\) outputs 1x1, too small"):
        validate_spec(spec)
    # Without that pool, the same layers fit: 1x1x16 features.
    fits = ModelSpec(conv=(ConvSpec(6, 5), ConvSpec(16, 5), ConvSpec(16, 5, pool=False)), fc=(84,))
    assert flat_features(fits) == 16


def test_padding_lets_a_big_kernel_fit():
    spec = ModelSpec(conv=(ConvSpec(8, 3), ConvSpec(8, 3), ConvSpec(8, 3), ConvSpec(8, 5, padding=2)), fc=())
    assert flat_features(spec) == 8 * 1 * 1
    assert build_model(spec)(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("changes, message", [
    ({"conv": (ConvSpec(0, 5),)}, "conv\\[0\\].out_channels' must be at least 1"),
    ({"conv": (ConvSpec(6, 0),)}, "conv\\[0\\].kernel_size' must be at least 1"),
    ({"conv": (ConvSpec(6, 5, padding=-1),)}, "conv\\[0\\].padding' must be at least 0"),
    ({"fc": (120, 0)}, "fc\\[1\\]' must be at least 1"),
    ({"dropout": 1.0}, "'dropout' must be in \\[0, 1\\)"),
    ({"dropout": -0.1}, "'dropout' must be in \\[0, 1\\)"),
    ({"activation": "sigmoid"}, "'activation' is 'sigmoid'; choose one of relu, tanh"),
    ({"init": "he"}, "'init' is 'he'; choose one of default, xavier"),
    ({"input_norm": "whiten"}, "'input_norm' is 'whiten'; choose one of none, contrast"),
])
def test_bad_values_are_refused(changes, message):
    with pytest.raises(ModelSpecError, match=message):
        build_model(replace(PRESETS["base"], **changes))


def test_empty_fc_and_other_activations_build():
    for activation in ("tanh", "gelu", "elu", "leaky_relu"):
        spec = ModelSpec(conv=(ConvSpec(4, 5),), fc=(), activation=activation, dropout=0.5)
        assert build_model(spec)(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("name", PRESETS)
def test_spec_round_trips_through_json(name):
    spec = PRESETS[name]
    data = json.loads(json.dumps(spec.to_dict()))
    assert ModelSpec.from_dict(data) == spec


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("conv"), "'conv' is missing"),
    (lambda d: d.update(conv="3x32"), "'conv' must be a list"),
    (lambda d: d["conv"][1].update(out_channels="16"), "'conv\\[1\\].out_channels' must be an integer, got '16'"),
    (lambda d: d["conv"][0].update(pool="yes"), "'conv\\[0\\].pool' must be true or false"),
    (lambda d: d["conv"][0].pop("kernel_size"), "'conv\\[0\\].kernel_size' is missing"),
    (lambda d: d["conv"][0].update(stride=2), "'conv\\[0\\]' has unknown field\\(s\\) stride"),
    (lambda d: d.update(fc=[120, 84.5]), "'fc\\[1\\]' must be an integer, got 84.5"),
    (lambda d: d.update(dropuot=0.5), "unknown field\\(s\\) dropuot"),
    (lambda d: d.update(dropout="0.5"), "'dropout' must be a number"),
    (lambda d: d.update(num_classes=True), "'num_classes' must be an integer"),
    (lambda d: d.update(activation="swish"), "'activation' is 'swish'"),
    (lambda d: d.update(flip_tta="yes"), "'flip_tta' must be true or false"),
    (lambda d: d.update(input_norm=1), "'input_norm' must be a string"),
    (lambda d: d["conv"][1].update(kernel_size=20), "conv layer 2 \\(kernel 20\\)"),
])
def test_bad_dicts_name_the_field(mutate, message):
    data = PRESETS["base"].to_dict()
    mutate(data)
    with pytest.raises(ModelSpecError, match=message):
        ModelSpec.from_dict(data)


def test_input_norm_and_flip_tta_round_trip_through_json_and_are_described():
    spec = replace(PRESETS["stepping"], input_norm="contrast", flip_tta=True)
    data = json.loads(json.dumps(spec.to_dict()))
    assert (data["input_norm"], data["flip_tta"]) == ("contrast", True)
    assert ModelSpec.from_dict(data) == spec != PRESETS["stepping"]
    assert spec.describe().startswith("contrast-normalised input") and spec.describe().endswith("flip TTA")
    # A spec written before these fields existed reads as neither.
    old = {k: v for k, v in PRESETS["base"].to_dict().items() if k not in ("input_norm", "flip_tta")}
    assert ModelSpec.from_dict(old) == PRESETS["base"]


def test_contrast_normalised_input_ignores_brightness_and_contrast():
    torch.manual_seed(0)
    model = build_model(replace(PRESETS["base"], input_norm="contrast")).eval()
    plain = build_model(PRESETS["base"]).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(4, 3, 32, 32) * 3
    # The same photo dimmer and flatter: the same prediction; the plain model sees a change.
    torch.testing.assert_close(model(0.5 * x - 1.0), model(x), rtol=1e-3, atol=1e-3)
    assert not torch.allclose(plain(0.5 * x - 1.0), plain(x), atol=1e-2)
    normalised = contrast_normalize(x)
    torch.testing.assert_close(normalised.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalised.std(dim=(1, 2, 3), unbiased=False), torch.ones(4), atol=1e-2, rtol=0)


def test_flip_tta_predicts_the_mean_of_the_two_views_in_eval_mode_only():
    torch.manual_seed(0)
    model = build_model(replace(PRESETS["best"], flip_tta=True))
    single = build_model(PRESETS["best"])
    single.load_state_dict(model.state_dict())
    x = torch.randn(5, 3, 32, 32)
    model.eval(), single.eval()
    expected = (single(x) + single(x.flip(3))) / 2
    torch.testing.assert_close(model(x), expected)
    assert not torch.allclose(model(x), single(x), atol=1e-4)
    torch.testing.assert_close(model(x.flip(3)), model(x), rtol=1e-5, atol=1e-5)  # mirror images agree
    model.train(), single.train()
    torch.manual_seed(1)
    got = model(x)
    torch.manual_seed(1)
    torch.testing.assert_close(got, single(x))  # training sees the single view


def test_from_dict_fills_defaults_and_accepts_integer_dropout():
    spec = ModelSpec.from_dict({"conv": [{"out_channels": 6, "kernel_size": 5}], "fc": [], "dropout": 0})
    assert spec == ModelSpec(conv=(ConvSpec(6, 5),), fc=())
    assert isinstance(spec.dropout, float)


def test_xavier_init_gives_zero_biases_and_xavier_spread():
    torch.manual_seed(0)
    default = build_model(PRESETS["base"])
    xavier = build_model(PRESETS["xavier"])
    first_fc = xavier.classifier[1]
    assert isinstance(first_fc, nn.Linear) and first_fc.weight.shape == (120, 400)
    # Xavier-uniform draws from U(-a, a), a = sqrt(6 / (fan_in + fan_out)); its std is a / sqrt(3).
    bound = math.sqrt(6 / (400 + 120))
    assert first_fc.weight.abs().max() <= bound
    assert first_fc.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    # PyTorch's default for Linear is U(-1/sqrt(fan_in), ...): a clearly smaller spread.
    assert default.classifier[1].weight.std().item() < 0.6 * bound / math.sqrt(3)
    for module in xavier.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            assert torch.count_nonzero(module.bias) == 0
    assert torch.count_nonzero(default.classifier[1].bias) > 0


def test_model_returns_logits_not_probabilities():
    torch.manual_seed(0)
    model = build_model(PRESETS["base"])
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in model.modules())
    assert isinstance(model.classifier[-1], nn.Linear)
    x = torch.randn(8, 3, 32, 32)
    labels = torch.arange(8) % 10
    logits = model(x)
    assert not torch.allclose(logits.sum(dim=1), torch.ones(8), atol=1e-3)
    # With raw logits, d(CE)/d(last bias) is mean(softmax - one_hot). A softmax
    # inside the model would scale it down through the softmax's own Jacobian.
    nn.functional.cross_entropy(logits, labels).backward()
    expected = (logits.detach().softmax(dim=1) - nn.functional.one_hot(labels, 10)).mean(dim=0)
    torch.testing.assert_close(model.classifier[-1].bias.grad, expected)


def test_forward_on_channels_last_input_matches():
    torch.manual_seed(0)
    model = build_model(PRESETS["best"]).eval()
    x = torch.randn(4, 3, 32, 32)
    expected = model(x)
    model = model.to(memory_format=torch.channels_last)
    got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_summary_rows_shapes_and_total():
    rows = summarize(PRESETS["best"])
    assert rows[0] == {"layer": "Conv2d(3, 32, k3)", "output_shape": [32, 30, 30], "params": 896}
    assert {"layer": "BatchNorm2d(64)", "output_shape": [64, 6, 6], "params": 128} in rows
    assert {"layer": "Flatten", "output_shape": [2304], "params": 0} in rows
    assert rows[-1] == {"layer": "Linear(200, 10)", "output_shape": [10], "params": 2010}
    assert sum(r["params"] for r in rows) == count_parameters(build_model(PRESETS["best"]))
    table = format_summary(rows)
    assert table.splitlines()[0].split() == ["layer", "output", "shape", "params"]
    assert "Conv2d(32, 64, k4)  64 x 12 x 12" in table
    assert table.splitlines()[-1].split() == ["total", "1,539,130"]


def test_summary_does_not_touch_the_global_random_stream():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    summarize(PRESETS["more-maps"])
    assert torch.equal(torch.rand(3), expected)


def test_summary_of_a_bad_spec_raises_and_describe_still_works():
    spec = ModelSpec(conv=(ConvSpec(6, 40),), fc=())
    with pytest.raises(ModelSpecError, match="conv layer 1 \\(kernel 40\\).*from the image"):
        summarize(spec)
    assert spec.describe() == "conv 3→6 k40, pool, fc ?→10"
