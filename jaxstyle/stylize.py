"""`python -m jaxstyle.stylize` is the `jaxstyle` command (jaxstyle/cli/stylize.py).

`jaxstyle.stylize` is the API function; importing this module would hide it, so an
import is refused with the names to use instead.
"""
if __name__ != "__main__":
  raise ImportError("jaxstyle.stylize is the function jaxstyle.stylize(...); the command's "
                    "module is jaxstyle.cli.stylize (run it as `jaxstyle` or "
                    "`python -m jaxstyle.stylize`)")
from jaxstyle.cli.stylize import run  # pylint: disable=wrong-import-position
run()
