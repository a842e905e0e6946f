"""A prices file: the operator's own prices for private and fine-tuned models.

TOML or JSON, a table of model name (or glob pattern: `ft:gpt-4o-mini:*`) → USD per million
tokens: `input`, `output`, and optionally `cached` (cache reads) and `cache_write`, which
default to `input`. Names are matched case-insensitively, an exact name before any pattern,
patterns in file order. It overrides and extends genai-prices' table (see `cost`).

```toml
[models."acme-llm-7b"]
input = 0.2
output = 0.6
[models."ft:gpt-4o-mini:*"]
input = 0.3
output = 1.2
cached = 0.15
```
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import tomllib
from pathlib import Path
from typing import Any

PER_MILLION = 1_000_000
_FIELDS = ("input", "output", "cached", "cache_write")


class PricesError(ValueError):
    """A prices file that cannot be used: the message names the file and the fault."""


@dataclasses.dataclass(frozen=True)
class CustomPrice:
    """One entry of a prices file, in USD per million tokens."""

    pattern: str  # lower-cased model name or glob pattern
    input: float
    output: float
    cached: float
    cache_write: float
    source: str  # the file it came from

    @property
    def is_pattern(self) -> bool:
        return any(c in self.pattern for c in "*?[")

    def matches(self, model: str) -> bool:
        name = model.lower()
        return name == self.pattern or (self.is_pattern and fnmatch.fnmatchcase(name, self.pattern))


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricesError(f"prices file {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise PricesError(f"prices file {path}: not valid {kind}: {exc}") from None


def _number(path: Path, model: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise PricesError(
            f"prices file {path}: model {model!r}: {name} must be a number of USD per million "
            f"tokens (0 or more), got {value!r}"
        )
    return float(value)


def load_prices(path: str | Path) -> list[CustomPrice]:
    """The entries of a prices file, in file order; PricesError says what is wrong."""
    file = Path(path)
    data = _parse(file)
    if isinstance(data, dict) and isinstance(data.get("models"), dict):
        data = data["models"]
    if not isinstance(data, dict):
        raise PricesError(f"prices file {file}: expected a table of model name → prices")
    out: list[CustomPrice] = []
    for model, entry in data.items():
        if not isinstance(entry, dict):
            raise PricesError(
                f"prices file {file}: model {model!r}: expected a table with input and output"
            )
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise PricesError(
                f"prices file {file}: model {model!r}: unknown key(s) {', '.join(unknown)} "
                f"(expected {', '.join(_FIELDS)})"
            )
        for required in ("input", "output"):
            if required not in entry:
                raise PricesError(f"prices file {file}: model {model!r}: {required} is missing")
        values = {k: _number(file, model, k, v) for k, v in entry.items()}
        out.append(
            CustomPrice(
                pattern=str(model).lower(),
                input=values["input"],
                output=values["output"],
                cached=values.get("cached", values["input"]),
                cache_write=values.get("cache_write", values["input"]),
                source=str(file),
            )
        )
    return out


def find(prices: list[CustomPrice], model: str) -> CustomPrice | None:
    """The entry for `model`: its exact name first, then the first pattern that matches."""
    name = model.lower()
    for entry in prices:
        if entry.pattern == name:
            return entry
    for entry in prices:
        if entry.is_pattern and entry.matches(model):
            return entry
    return None
