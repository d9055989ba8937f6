"""The exceptions a command turns into one line and a non-zero exit status."""


class UserError(ValueError):
  """A bad input, flag or file: the CLI prints its message as one line and exits 1."""


class Interrupted(Exception):
  """The run was stopped by Ctrl-C or SIGTERM after saving what it had (the message
  says what and at which step); the CLI exits 130 (SIGINT) or 143 (SIGTERM)."""
