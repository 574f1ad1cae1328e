"""The LeNet family: a spec dataclass, the presets, the network and its summary.

A model is described by a `ModelSpec` (plain data, JSON round-trippable, stored
in every run's config and checkpoint) and built by `build_model`. Each conv
block is conv -> activation -> max-pool(2) -> BatchNorm, the order of the
report's best model ("conv, pool, BN"). The network ends in a Linear layer and
returns logits: the seed put a softmax there, in front of CrossEntropyLoss,
which softmaxes again and slows learning.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from cinic.errors import CinicError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}
INITS = ("default", "xavier")
INPUT_NORMS = ("none", "contrast")
CONTRAST_EPS = 1e-2  # keeps a flat image's few levels of noise from being blown up to full contrast


class ModelSpecError(CinicError):
    """A model spec that cannot be built; the message names the field or layer."""


# ----------------------------------------------------------------------------
# The spec


@dataclass(frozen=True)
class ConvSpec:
    """One conv block: conv -> activation -> max-pool(2) if pool -> BN if batch_norm."""

    out_channels: int
    kernel_size: int
    padding: int = 0
    pool: bool = True
    batch_norm: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A LeNet-style network: conv blocks, then hidden fc sizes, then num_classes."""

    conv: tuple[ConvSpec, ...]
    fc: tuple[int, ...]  # hidden sizes; the last Linear to num_classes is implied
    activation: str = "relu"
    dropout: float = 0.0  # after each hidden fc activation
    init: str = "default"  # "xavier": Xavier-uniform weights, zero biases
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32
    input_norm: str = "none"  # "contrast": each image to zero mean, unit spread first (contrast_normalize)
    flip_tta: bool = False  # in eval mode, the mean of the logits of the image and its mirror image

    def __post_init__(self):
        # Lists from callers would make the frozen spec unhashable and unequal
        # to the same spec read back from JSON; keep tuples throughout.
        object.__setattr__(self, "conv", tuple(self.conv))
        object.__setattr__(self, "fc", tuple(self.fc))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; `ModelSpec.from_dict` reads it back."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["conv"] = [{f.name: getattr(c, f.name) for f in fields(ConvSpec)} for c in self.conv]
        out["fc"] = list(self.fc)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "ModelSpec":
        """Read a spec from JSON-like data, checking every field; raises ModelSpecError."""
        if not isinstance(data, dict):
            raise ModelSpecError(f"model spec must be a JSON object, got {type(data).__name__}")
        _reject_unknown_keys(data, cls, "model spec")
        for required in ("conv", "fc"):
            if required not in data:
                raise ModelSpecError(f"model spec field '{required}' is missing")
        if not isinstance(data["conv"], (list, tuple)):
            raise ModelSpecError(_type_message("conv", "a list of conv layers", data["conv"]))
        if not isinstance(data["fc"], (list, tuple)):
            raise ModelSpecError(_type_message("fc", "a list of hidden sizes", data["fc"]))
        conv = tuple(_conv_from_dict(c, f"conv[{i}]") for i, c in enumerate(data["conv"]))
        fc = tuple(_require_int(v, f"fc[{i}]") for i, v in enumerate(data["fc"]))
        scalars = {
            name: _read_scalar(data, name)
            for name in ("activation", "dropout", "init", "num_classes", "in_channels", "image_size",
                         "input_norm", "flip_tta")
            if name in data
        }
        spec = cls(conv=conv, fc=fc, **scalars)
        validate_spec(spec)
        return spec

    def describe(self) -> str:
        """One line, e.g. "conv 3→32 k3, pool, BN, conv 32→64 k4, pool, BN, fc 2304→600→200→10"."""
        parts = []
        channels = self.in_channels
        for c in self.conv:
            pad = f" p{c.padding}" if c.padding else ""
            parts.append(f"conv {channels}→{c.out_channels} k{c.kernel_size}{pad}")
            parts += ["pool"] * c.pool + ["BN"] * c.batch_norm
            channels = c.out_channels
        try:
            flat = str(flat_features(self))
        except ModelSpecError:
            flat = "?"  # a spec that does not fit still gets described
        parts.append("fc " + "→".join([flat, *map(str, self.fc), str(self.num_classes)]))
        if self.activation != "relu":
            parts.append(self.activation)
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        if self.init != "default":
            parts.append(f"{self.init} init")
        if self.input_norm != "none":
            parts.insert(0, f"{self.input_norm}-normalised input")
        if self.flip_tta:
            parts.append("flip TTA")
        return ", ".join(parts)


def _type_message(field: str, wanted: str, value: Any) -> str:
    return f"model spec field '{field}' must be {wanted}, got {value!r} ({type(value).__name__})"


def _reject_unknown_keys(data: dict, cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise ModelSpecError(
            f"{where} has unknown field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(known))}"
        )


def _require_int(value: Any, field: str) -> int:
    # bool is an int subclass, but `true` for a channel count is a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelSpecError(_type_message(field, "an integer", value))
    return value


def _require_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ModelSpecError(_type_message(field, "true or false", value))
    return value


def _read_scalar(data: dict, name: str) -> Any:
    value = data[name]
    if name in ("activation", "init", "input_norm"):
        if not isinstance(value, str):
            raise ModelSpecError(_type_message(name, "a string", value))
        return value
    if name == "flip_tta":
        return _require_bool(value, name)
    if name == "dropout":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelSpecError(_type_message(name, "a number in [0, 1)", value))
        return float(value)
    return _require_int(value, name)


def _conv_from_dict(data: Any, where: str) -> ConvSpec:
    if not isinstance(data, dict):
        example = 'an object like {"out_channels": 6, "kernel_size": 5}'
        raise ModelSpecError(_type_message(where, example, data))
    _reject_unknown_keys(data, ConvSpec, f"model spec field '{where}'")
    for required in ("out_channels", "kernel_size"):
        if required not in data:
            raise ModelSpecError(f"model spec field '{where}.{required}' is missing")
    values = {}
    for name, value in data.items():
        check = _require_bool if name in ("pool", "batch_norm") else _require_int
        values[name] = check(value, f"{where}.{name}")
    return ConvSpec(**values)


# ----------------------------------------------------------------------------
# Validation and shape arithmetic


def feature_shape(spec: ModelSpec) -> tuple[int, int, int]:
    """(channels, height, width) after the conv blocks; raises ModelSpecError if it does not fit."""
    size = spec.image_size
    for number, c in enumerate(spec.conv, start=1):
        needed = c.kernel_size
        if size + 2 * c.padding < needed:
            where = _where_input_comes_from(spec, number)
            raise ModelSpecError(
                f"conv layer {number} (kernel {needed}) needs at least {needed}x{needed} input "
                f"but gets {size + 2 * c.padding}x{size + 2 * c.padding} {where}; "
                "use a smaller kernel, padding, or fewer pooling steps"
            )
        size = size + 2 * c.padding - c.kernel_size + 1
        if c.pool:
            if size < 2:
                raise ModelSpecError(
                    f"conv layer {number} (kernel {c.kernel_size}) outputs {size}x{size}, too small "
                    "for its 2x2 max-pooling; use a smaller kernel, padding, or turn this pool off"
                )
            size //= 2
    channels = spec.conv[-1].out_channels if spec.conv else spec.in_channels
    return channels, size, size


def _where_input_comes_from(spec: ModelSpec, number: int) -> str:
    if number == 1:
        return "from the image"
    return "after the previous pooling" if spec.conv[number - 2].pool else "from the previous layer"


def flat_features(spec: ModelSpec) -> int:
    """Inputs to the first fc layer (400 for LeNet-5 on 32x32)."""
    channels, height, width = feature_shape(spec)
    return channels * height * width


def validate_spec(spec: ModelSpec) -> None:
    """Raise ModelSpecError for bad values or shapes that do not fit the image size."""
    for name in ("num_classes", "in_channels", "image_size"):
        if getattr(spec, name) < 1:
            raise ModelSpecError(f"model spec field '{name}' must be at least 1, got {getattr(spec, name)}")
    if spec.activation not in ACTIVATIONS:
        raise ModelSpecError(
            f"model spec field 'activation' is {spec.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    if spec.init not in INITS:
        raise ModelSpecError(f"model spec field 'init' is {spec.init!r}; choose one of {', '.join(INITS)}")
    if spec.input_norm not in INPUT_NORMS:
        raise ModelSpecError(f"model spec field 'input_norm' is {spec.input_norm!r}; "
                             f"choose one of {', '.join(INPUT_NORMS)}")
    if not 0.0 <= spec.dropout < 1.0:
        raise ModelSpecError(f"model spec field 'dropout' must be in [0, 1), got {spec.dropout}")
    for i, c in enumerate(spec.conv):
        for name, value, least in (("out_channels", c.out_channels, 1), ("kernel_size", c.kernel_size, 1),
                                   ("padding", c.padding, 0)):
            if value < least:
                raise ModelSpecError(f"model spec field 'conv[{i}].{name}' must be at least {least}, got {value}")
    for i, size in enumerate(spec.fc):
        if size < 1:
            raise ModelSpecError(f"model spec field 'fc[{i}]' must be at least 1, got {size}")
    feature_shape(spec)
    if parameter_count(spec) > MAX_PARAMETERS:  # counted, not allocated: a spec from a file may ask for GBs
        raise ModelSpecError(f"the model spec asks for {parameter_count(spec):,} parameters, more than the "
                             f"{MAX_PARAMETERS:,} allowed (the largest preset has about 1.5 million); "
                             "use fewer channels or smaller fc layers")


MAX_PARAMETERS = 50_000_000  # 200 MB of float32 weights, 30 times the largest preset


def parameter_count(spec: ModelSpec) -> int:
    """The learnable values `build_model(spec)` would hold, computed without building it."""
    total, channels = 0, spec.in_channels
    for c in spec.conv:
        total += channels * c.out_channels * c.kernel_size ** 2 + c.out_channels + 2 * c.out_channels * c.batch_norm
        channels = c.out_channels
    width = flat_features(spec)
    for hidden in (*spec.fc, spec.num_classes):
        total += width * hidden + hidden
        width = hidden
    return total


# ----------------------------------------------------------------------------
# Presets: the report's three models and single-change variants of the base


def _lenet5(**changes: Any) -> ModelSpec:
    base = ModelSpec(conv=(ConvSpec(6, 5), ConvSpec(16, 5)), fc=(120, 84))
    return replace(base, **changes)


PRESETS: dict[str, ModelSpec] = {
    "base": _lenet5(),
    "stepping": _lenet5(conv=(ConvSpec(6, 3), ConvSpec(16, 4))),
    "best": _lenet5(
        conv=(ConvSpec(32, 3, batch_norm=True), ConvSpec(64, 4, batch_norm=True)),
        fc=(600, 200),
    ),
    "more-maps": _lenet5(conv=(ConvSpec(32, 5), ConvSpec(64, 5))),
    "batchnorm": _lenet5(conv=(ConvSpec(6, 5, batch_norm=True), ConvSpec(16, 5, batch_norm=True))),
    "big-fc": _lenet5(fc=(600, 200)),
    "xavier": _lenet5(init="xavier"),
}

PRESET_NOTES: dict[str, str] = {
    "base": "LeNet-5 as in the report (its reference model)",
    "stepping": "base with smaller filters (k3, k4): the report's stepping stone",
    "best": "stepping's filters, 32/64 maps, BatchNorm and fc 600→200: the report's best",
    "more-maps": "base with 32 and 64 feature maps instead of 6 and 16",
    "batchnorm": "base with BatchNorm after each pooling",
    "big-fc": "base with hidden fc layers 600→200 instead of 120→84",
    "xavier": "base with Xavier-uniform weights and zero biases (the project recipe starts base so too)",
}

# The course report's own figures on CINIC-10 (its table: 90,000 + 30,000 Augmentor training
# images, Adam with late drops), the reference rows of the Compare page.
REPORT_RESULTS: dict[str, dict] = {
    "base": {"test_acc": 50.73, "best_valid_acc": 51.22, "epoch": 16},
    "stepping": {"test_acc": 52.25, "best_valid_acc": 54.51, "epoch": 10},
    "best": {"test_acc": 64.38, "best_valid_acc": 64.66, "epoch": 5},
}

# Another name the mission uses for a preset above; not a separate model,
# so the compare table does not list the same network twice.
PRESET_ALIASES: dict[str, str] = {"small-filters": "stepping"}


def get_preset(name: str) -> ModelSpec:
    """The preset called `name` (aliases accepted); ModelSpecError lists the choices."""
    key = PRESET_ALIASES.get(name, name)
    if key not in PRESETS:
        choices = ", ".join([*PRESETS, *PRESET_ALIASES])
        raise ModelSpecError(f"unknown model preset {name!r}; choose one of {choices}")
    return PRESETS[key]


# ----------------------------------------------------------------------------
# The network


def contrast_normalize(x: torch.Tensor) -> torch.Tensor:
    """Each image of N x C x H x W to zero mean and unit standard deviation over all its values.

    A photo's overall brightness and contrast say little about its class; taking
    them out inside the model makes it see a dim or washed-out photo as it sees a
    clear one (the corrupted test split's brightness and contrast kinds), and
    predict, export and explain all get the same input the training saw.
    """
    centred = x - x.mean(dim=(1, 2, 3), keepdim=True)
    # The variance as the mean square of the centred values: the same figure as torch.var's to float32
    # rounding, and 10x faster on the CPU, where torch.var's one-pass kernel took about as long per
    # batch as base's whole forward pass (bench/README.md, "Closing the gap").
    var = (centred * centred).mean(dim=(1, 2, 3), keepdim=True)
    return centred * torch.rsqrt(var + CONTRAST_EPS)


class LeNet(nn.Module):
    """`features` (conv blocks) then `classifier` (flatten, fc layers); logits out.

    The spec's input normalisation comes first; with `flip_tta`, in eval mode
    the logits are the mean of those of the image and of its mirror image (both
    views in one batch). Training always sees the single view.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.features = nn.Sequential(*_conv_layers(spec))
        self.classifier = nn.Sequential(*_fc_layers(spec))
        if spec.init == "xavier":
            self.apply(_xavier_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.input_norm == "contrast":
            x = contrast_normalize(x)
        if self.spec.flip_tta and not self.training:
            n = x.shape[0]
            logits = self.classifier(self.features(torch.cat([x, x.flip(3)])))
            return (logits[:n] + logits[n:]) / 2
        return self.classifier(self.features(x))


def _conv_layers(spec: ModelSpec) -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = spec.in_channels
    for c in spec.conv:
        layers.append(nn.Conv2d(channels, c.out_channels, c.kernel_size, padding=c.padding))
        layers.append(ACTIVATIONS[spec.activation]())
        if c.pool:
            layers.append(nn.MaxPool2d(2))
        if c.batch_norm:
            layers.append(nn.BatchNorm2d(c.out_channels))
        channels = c.out_channels
    return layers


def _fc_layers(spec: ModelSpec) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Flatten()]
    width = flat_features(spec)
    for hidden in spec.fc:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[spec.activation]()]
        if spec.dropout:
            layers.append(nn.Dropout(spec.dropout))
        width = hidden
    layers.append(nn.Linear(width, spec.num_classes))  # logits: no softmax here
    return layers


def _xavier_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def build_model(spec: ModelSpec) -> LeNet:
    """Validate `spec` and build its network (on the CPU, in training mode)."""
    validate_spec(spec)
    return LeNet(spec)


def count_parameters(model: nn.Module) -> int:
    """Number of learnable values (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------
# Summary: layer, output shape, parameters


def summarize(spec: ModelSpec) -> list[dict[str, Any]]:
    """One row per layer: {"layer", "output_shape" (no batch dim), "params"}.

    Shapes come from pushing a dummy 1x3x32x32 through the real layers. It runs
    on the "meta" device: no memory, no arithmetic, and no draw from the global
    random generator, so asking for a summary never changes a later training.
    """
    validate_spec(spec)
    with torch.device("meta"):
        model = LeNet(spec).eval()
        x = torch.empty(1, spec.in_channels, spec.image_size, spec.image_size)
    rows = []
    for layer in [*model.features, *model.classifier]:
        x = layer(x)
        rows.append({"layer": _layer_name(layer), "output_shape": list(x.shape[1:]),
                     "params": count_parameters(layer)})
    return rows


def _layer_name(layer: nn.Module) -> str:
    if isinstance(layer, nn.Conv2d):
        pad = f", p{layer.padding[0]}" if layer.padding[0] else ""
        return f"Conv2d({layer.in_channels}, {layer.out_channels}, k{layer.kernel_size[0]}{pad})"
    if isinstance(layer, nn.Linear):
        return f"Linear({layer.in_features}, {layer.out_features})"
    if isinstance(layer, nn.MaxPool2d):
        return f"MaxPool2d({layer.kernel_size})"
    if isinstance(layer, nn.BatchNorm2d):
        return f"BatchNorm2d({layer.num_features})"
    if isinstance(layer, nn.Dropout):
        return f"Dropout({layer.p:g})"
    return type(layer).__name__


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of `summarize` rows with the parameter total."""
    shapes = [" x ".join(map(str, r["output_shape"])) for r in rows]
    total = sum(r["params"] for r in rows)
    name_width = max([len("layer"), *(len(r["layer"]) for r in rows)])
    shape_width = max([len("output shape"), *map(len, shapes)])
    param_width = max(len("params"), len(f"{total:,}"))
    lines = [f"{'layer':<{name_width}}  {'output shape':<{shape_width}}  {'params':>{param_width}}"]
    rule = "-" * len(lines[0])
    lines.append(rule)
    for row, shape in zip(rows, shapes):
        lines.append(f"{row['layer']:<{name_width}}  {shape:<{shape_width}}  {row['params']:>{param_width},}")
    lines += [rule, f"{'total':<{name_width}}  {'':<{shape_width}}  {total:>{param_width},}"]
    return "\n".join(lines)
