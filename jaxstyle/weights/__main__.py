"""`python -m jaxstyle.weights`: the command lives in jaxstyle/cli/weights.py."""
from jaxstyle.cli.weights import run; run()  # pylint: disable=multiple-statements
