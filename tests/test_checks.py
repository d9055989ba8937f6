"""jaxstyle.checks: the one way to say that a setting is wrong."""

import pytest

from jaxstyle import checks


def test_checks_helpers_say_what_a_value_must_be():
  assert checks.one_of("x", None, ("a",), optional=True) is None
  assert checks.in_range("x", 3, 1, integer=True) == 3
  for call, message in [
      (lambda: checks.in_range("x", True, 0), "x must be a number, got True"),
      (lambda: checks.in_range("x", 1.0, 0, 1, open_high=True), r"x must be in \[0, 1\)"),
      (lambda: checks.in_range("x", "3", 0), "x must be a number, got '3'"),
      (lambda: checks.one_of("x", "c", ("a", "b")), "x must be one of a, b, got 'c'")]:
    with pytest.raises(ValueError, match=message):
      call()
