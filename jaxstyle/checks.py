"""One way to say that a setting is wrong: `one_of` and `in_range` raise ValueError
naming the setting, what it must be and what it got. Every settings class
(`gatys.config.StylizeConfig`, `gatys.objective.ObjectiveConfig`, ...) checks with
these, so a message reads the same wherever a setting is refused."""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence


def one_of(name: str, value: Any, choices: Sequence[Any], *, optional: bool = False) -> Any:
  """`value` if it is one of `choices` (or None, when optional); else ValueError."""
  if value is None and optional:
    return None
  if value not in tuple(choices):
    allowed = ", ".join(map(str, choices)) + (" or None" if optional else "")
    raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
  return value


def _bounds(low, high, open_low, open_high, integer) -> str:
  """What a value must be: "positive", "a positive finite number", "in [0, 1)", ..."""
  if high is None and integer and low == 1 and not open_low:
    return "positive"
  if high is None and low == 0:
    sign = "positive" if open_low else "non-negative"
    return sign if integer else f"a {sign} finite number"
  if high is None:
    return f"greater than {low}" if open_low else f"at least {low}"
  left, right = "(" if open_low else "[", ")" if open_high else "]"
  return f"in {left}{low}, {high}{right}"


def in_range(name: str, value: Any, low: float | None = None, high: float | None = None, *,
             open_low: bool = False, open_high: bool = False, integer: bool = False,
             optional: bool = False) -> Any:
  """`value` if it is a finite number (an integer if `integer`) within the bounds
  (`low` <= value <= `high`, strict where open; None: unbounded); else ValueError.
  None passes when optional."""
  if value is None and optional:
    return None
  kind = "an integer" if integer else "a number"
  if isinstance(value, bool) or not isinstance(
      value, numbers.Integral if integer else numbers.Real):
    raise ValueError(f"{name} must be {kind}, got {value!r}")
  bounds = _bounds(low, high, open_low, open_high, integer)
  if not math.isfinite(value):
    raise ValueError(f"{name} must be "
                     f"{bounds if 'finite' in bounds else 'a finite number'}, got {value}")
  too_low = low is not None and (value <= low if open_low else value < low)
  too_high = high is not None and (value >= high if open_high else value > high)
  if too_low or too_high:
    raise ValueError(f"{name} must be {bounds}, got {value}")
  return value
