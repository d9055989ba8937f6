"""`python -m jaxstyle.stylize` is the `jaxstyle` command (jaxstyle/cli/stylize.py)."""
if __name__ == "__main__": from jaxstyle.cli.stylize import run; run()  # pylint: disable=multiple-statements
