"""The one exception type for mistakes a user can fix."""


class UserError(ValueError):
  """A bad input, flag or file: the CLI prints its message as one line and exits 1."""
