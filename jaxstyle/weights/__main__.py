"""`python -m jaxstyle.weights fetch|convert|info`: see jaxstyle.weights.main."""

import sys

from jaxstyle.weights import main

sys.exit(main(sys.argv))
