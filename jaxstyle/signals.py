"""Ctrl-C and SIGTERM, for every command and the optimization loop.

SIGTERM (what `timeout`, batch schedulers and preemptible VMs send) is handled like
Ctrl-C: `terminate_as_interrupt` makes it raise KeyboardInterrupt, the run stops and
saves what it has, and `exit_status` is 130 after Ctrl-C, 143 after SIGTERM.
`HeldInterrupts` defers both while a device call is running (see its docstring).
"""

from __future__ import annotations

import signal
import threading

_EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
_received: list[int] = []


def _on_sigterm(signum, frame):
  _received.append(signum)
  signal.default_int_handler(signum, frame)  # Raises KeyboardInterrupt.


def terminate_as_interrupt() -> None:
  """SIGTERM raises KeyboardInterrupt from now on (main thread only, as any handler)."""
  signal.signal(signal.SIGTERM, _on_sigterm)


def exit_status() -> int:
  """The status an interrupted command exits with: 143 after SIGTERM, else 130."""
  return _EXIT_STATUS[_received[-1] if _received else signal.SIGINT]


class HeldInterrupts:
  """Defers Ctrl-C and SIGTERM (the handlers that raise, e.g. KeyboardInterrupt) while
  `holding`, to `release()`. A device call donates the state: an interrupt raised
  inside it after it ran (JAX builds its outputs in Python) would drop its result,
  the only live state."""

  def __init__(self):
    self.holding, self.held, self.handlers = False, [], {}

  def install(self) -> None:
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):
          self.handlers[signum] = handler
          signal.signal(signum, self._on_signal)

  def _on_signal(self, signum, frame):
    if self.holding:
      self.held.append((signum, frame))
    else:
      self.handlers[signum](signum, frame)

  def release(self) -> None:
    self.holding = False
    if self.held:
      signum, frame = self.held[0]
      self.held.clear()
      self.handlers[signum](signum, frame)

  def restore(self) -> None:
    self.holding = False  # A handler not yet restored passes signals on.
    for signum, handler in self.handlers.items():
      signal.signal(signum, handler)
