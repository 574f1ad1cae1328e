"""What a training setting is: its type, its allowed values, its flag and its widget, in one record.

The table of settings itself is `cinic.runs.config.SETTINGS`; everything that
names a setting reads it there: the config's fields and checks
(`cinic.runs.config`), the CLI's train flags (`cinic.cli`), the Train page's
form and its "Use these settings" (`pages/train.py`), the sweep spec's types
(`cinic.sweeps.spec`) and the reading of config.json (`cinic.runs.folder`).
"""

from __future__ import annotations

from dataclasses import dataclass

# The JSON types a setting's type names (an int is a float; bool is told apart where it matters).
JSON_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list,),
              "dict": (dict,), "None": (type(None),)}
REQUIRED = "(required)"  # the default of a setting every config must give (the data folder)


@dataclass(frozen=True)
class Range:
    """Allowed numbers: low..high, either end open or absent; `high` may name another setting
    ("epochs"); `said` replaces the words when they would read badly (2**63-1)."""

    low: float | None = None
    high: float | str | None = None
    low_open: bool = False
    high_open: bool = False
    said: str | None = None

    def bounds(self, config) -> tuple:
        high = getattr(config, self.high) if isinstance(self.high, str) else self.high
        return self.low, high

    def holds(self, value, config) -> bool:
        low, high = self.bounds(config)
        return ((low is None or (value > low if self.low_open else value >= low))
                and (high is None or (value < high if self.high_open else value <= high)))

    def __str__(self) -> str:
        if self.said:
            return self.said
        if self.high is None:
            return f"at least {self.low}"
        if self.low_open or self.high_open:
            return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        return f"{self.low}..{self.high}"


@dataclass(frozen=True)
class Widget:
    """How the Train page draws a setting: "number", "select", "checkbox" or "radio", or the name of a
    widget the page composes ("model", "augmentation", "drops", "device") that may set several settings.
    `high` may name another setting ("epochs"); `words` shows each choice in words."""

    kind: str
    low: float | None = None
    high: float | str | None = None
    step: float | None = None
    format: str | None = None
    words: dict | None = None


@dataclass(frozen=True)
class Setting:
    name: str                      # the TrainConfig field and config.json key
    type: str                      # its JSON type, as an annotation: "int", "float", "str | None", ...
    default: object = REQUIRED     # a list default is copied for each config
    label: str = ""                # in words, for messages and the form
    within: Range | None = None    # allowed numbers
    choices: tuple | None = None   # allowed values
    help: str | None = None        # for the CLI's --help and the form
    cli: bool = False              # a train flag of its own name (--batch-size); the others are composed
    widget: Widget | None = None   # None: not on the form (the data in use, what training measures)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def json_types(self) -> tuple:
        return tuple(t for part in self.type.split("|") for t in JSON_TYPES[part.strip()])

    @property
    def number_type(self):
        """int or float for a numeric setting, else None."""
        return next((t for t in (int, float) if t.__name__ in self.type.split(" | ")), None)

    def is_of_type(self, value) -> bool:
        """A value of the setting's JSON type; a bool is no number."""
        allowed = self.json_types
        return isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))

    def fault(self, value, config) -> str | None:
        """What is wrong with `value` for this setting (one line naming it), or None."""
        if value is None and type(None) in self.json_types:
            return None
        if self.choices is not None and (not self.is_of_type(value) or value not in self.choices):
            return f"{self.label} must be one of {', '.join(map(str, self.choices))}, got {value!r}"
        if self.within is not None and (not self.is_of_type(value) or not self.within.holds(value, config)):
            return f"{self.label} must be {self.within}, got {value}"
        if not self.is_of_type(value):
            return f"{self.label} must be of type {self.type}, got {str(value)[:60]!r}"
        return None
