"""The command line end to end, on a tiny random network and small images.

Argument checks and refusals run in this process (`tests.commands.run_main`); one real
subprocess per command covers its entry point, its exit status and (for `jaxstyle`) the
progress lines that only absl's `app.run` sets up.
"""

import importlib
import json
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxstyle import cache as cache_lib
from tests.commands import fails_cleanly, run_main, run_subprocess
from tests.conftest import random_image


def run_cli(*args, weights=None):
  """`jaxstyle ARGS [--weights=WEIGHTS]` in this process."""
  return run_main("jaxstyle.stylize", *args,
                  *([f"--weights={weights}"] if weights is not None else []))


def _save(image, path, mode="RGB"):
  Image.fromarray((image * 255).astype(np.uint8), mode).save(path)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
  d = tmp_path_factory.mktemp("pictures")
  _save(random_image(24, 32, 0), d / "content.jpg")
  _save(random_image(32, 32, 1)[..., 0], d / "grey.png", "L")
  rgba = (random_image(32, 32, 2) * 255).astype(np.uint8)
  Image.fromarray(np.dstack([rgba, np.full((32, 32), 200, np.uint8)]), "RGBA").save(d / "rgba.png")
  (d / "notes.jpg").write_text("not an image")
  data = (d / "content.jpg").read_bytes()
  (d / "cut.jpg").write_bytes(data[: len(data) // 2])
  return d


@pytest.mark.slow
def test_writes_image_and_metrics(tmp_path, pictures, tiny_weights_file):
  """The `jaxstyle` process: exit 0, the image, snapshots, metrics, the progress lines,
  and the compiled programs in --compilation_cache."""
  out = tmp_path / "out.png"
  metrics = tmp_path / "m.json"
  cache = tmp_path / "cache"
  done = run_subprocess(
      "jaxstyle.stylize", f"--content={pictures / 'content.jpg'}",
      f"--style={pictures / 'rgba.png'}", f"--output={out}", "--image_size=32",
      "--num_steps=6", "--log_every=2", "--save_every=3", f"--metrics_json={metrics}",
      f"--compilation_cache={cache}", f"--weights={tiny_weights_file}",
      env={"JAX_PLATFORMS": ""})  # As a user runs it: JAX probes for TPUs and GPUs.
  assert done.returncode == 0, done.stderr
  # The user's terminal: plain progress lines, no absl prefixes ("I1206 08:47:52.86 ...
  # stylize.py:306] "), no JAX probing lines ("Unable to initialize backend 'tpu'").
  assert not re.search(r"^[IWEF]\d{4} ", done.stderr, re.M), done.stderr
  assert "initialize backend" not in done.stderr and "libtpu" not in done.stderr, done.stderr
  assert re.search(r"^step 6/6  loss \S+  content", done.stderr, re.M), done.stderr
  assert Image.open(out).size == (32, 24)
  assert (tmp_path / "out_step00003.png").exists() and (tmp_path / "out_step00006.png").exists()
  assert "compil" in done.stderr and "steps/s" in done.stderr and "ETA" in done.stderr
  m = json.loads(metrics.read_text())
  assert len(m["history"]["total"]) == 7 and len(m["history"]["time"]) == 7
  assert m["device"]["platform"] == "cpu"
  assert m["run"]["content_layers"] == ["conv4_2"] and m["run"]["style_weight"] == 1e-3
  assert m["run"]["style_layers"] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
  assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
  assert any(p.name.startswith("jit_step_all") for p in cache.iterdir())


@pytest.mark.parametrize("module, own_flag", [
    ("jaxstyle.cli.stylize", "--style_weight"), ("jaxstyle.cli.fast", "--model"),
    ("jaxstyle.cli.train_fast", "--dataset_dir"), ("jaxstyle.cli.video", "--method"),
    ("jaxstyle.cli.arbitrary", "--save_style_vector")])
def test_help_lists_the_commands_own_flags(module, own_flag):
  """--help: the command's docstring (a description and an example), its own and the
  common flags with their defaults; absl's own flags only under --helpfull."""
  done = run_subprocess(module, "--help")  # absl's --help exits with status 1.
  assert "Traceback" not in done.stderr, done.stderr
  doc = importlib.import_module(module).__doc__.strip().splitlines()[0]
  assert doc in done.stdout
  assert f"\n  {own_flag}:" in done.stdout and "\n  --compilation_cache:" in done.stdout
  assert "(default: " in done.stdout and "--helpfull" not in done.stdout.split("flags:")[-1][:200]
  assert "--logtostderr" not in done.stdout


def test_compilation_cache_default_and_off(tmp_path, monkeypatch):
  """--compilation_cache defaults to $JAXSTYLE_CACHE and is off when empty. (That the
  cache named is written is test_writes_image_and_metrics's: the cache is process-wide
  configuration, so this process only records which directory each run would enable.)"""
  enabled = []
  monkeypatch.setattr(cache_lib, "enable_compilation_cache", enabled.append)
  default = tmp_path / "default"
  monkeypatch.setenv("JAXSTYLE_CACHE", str(default))
  fails_cleanly(run_cli("--compilation_cache="), "give --content and --style")
  assert enabled == []
  fails_cleanly(run_cli(), "give --content and --style")
  assert enabled == [str(default)]
  fails_cleanly(run_cli(f"--compilation_cache={tmp_path / 'c'}"), "give --content and --style")
  assert enabled == [str(default), str(tmp_path / "c")]


@pytest.mark.slow
def test_seeds_write_images_and_a_contact_sheet(tmp_path, pictures, tiny_weights_file):
  out = tmp_path / "s.png"
  done = run_cli(f"--content={pictures / 'grey.png'}",
                 f"--style={pictures / 'content.jpg'},{pictures / 'rgba.png'}",
                 f"--output={out}", "--image_size=32", "--num_steps=3", "--num_seeds=3",
                 "--seed=10", "--optimizer=adam", weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  seeds = [np.asarray(Image.open(tmp_path / f"s_seed{s}.png")) for s in (10, 11, 12)]
  assert all(im.shape == (32, 32, 3) for im in seeds)
  assert np.abs(seeds[0].astype(int) - seeds[1]).mean() > 1
  assert (tmp_path / "s_sheet.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--content=/no/such/file.jpg"], "no such file"),
    (["--content={d}/notes.jpg"], "not an image"),
    (["--content={d}/cut.jpg"], "damaged or truncated"),
    (["--style_layers=conv1_1,conv9_1"], "unknown VGG-19 layer(s) conv9_1; valid layers are"),
    (["--content_layers=relu4_5"], "unknown VGG-19 layer(s) relu4_5"),
    (["--image_size=20000"], "smaller --image_size"),
    (["--style_weight=1e38"], "not finite"),
    (["--output={d}/out.xyz"], "must end in one of .png"),
    (["--init={d}/missing.png"], "no such file"),
])
@pytest.mark.slow
def test_bad_input_is_one_line(tmp_path, pictures, tiny_weights_file, args, message):
  args = [a.format(d=pictures) for a in args]
  defaults = {"--content": f"--content={pictures / 'content.jpg'}",
              "--style": f"--style={pictures / 'rgba.png'}",
              "--output": f"--output={tmp_path / 'o.png'}"}
  for a in args:
    defaults.pop(a.split("=")[0], None)
  done = run_cli(*defaults.values(), *args, "--image_size=32" if "--image_size" not in
                 " ".join(args) else "--num_steps=2", "--num_steps=2",
                 weights=tiny_weights_file)
  fails_cleanly(done, message)
  assert done.returncode == 1


@pytest.mark.parametrize("flag", ["--image_size=0", "--num_steps=0", "--num_steps=-5",
                                  "--style_size=-1"])
def test_non_positive_numbers(pictures, tiny_weights_file, flag):
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 flag, weights=tiny_weights_file)
  fails_cleanly(done, f"error: {flag.split('=')[0]} must be ")  # The config's check.


def test_bad_weights_files(tmp_path, pictures, tiny_weights_file):
  corrupt = tmp_path / "corrupt.npz"
  corrupt.write_bytes(b"\x00" * 100)
  base = [f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
          f"--output={tmp_path / 'o.png'}", "--image_size=32", "--num_steps=1"]
  fails_cleanly(run_cli(*base, weights=corrupt), "corrupt")
  with np.load(tiny_weights_file) as data:
    arrays = dict(data)
  arrays["conv1_1/kernel"] = arrays["conv1_1/kernel"][..., :2]
  shaped = tmp_path / "shaped.npz"
  np.savez(shaped, **arrays)
  fails_cleanly(run_cli(*base, weights=shaped), "mis-shaped: conv1_1/kernel")
  fails_cleanly(run_cli(*base, weights=tmp_path / "absent.npz"), "does not exist")
  assert not (tmp_path / "o.png").exists()


def test_missing_inputs(tiny_weights_file):
  fails_cleanly(run_cli(weights=tiny_weights_file), "give --content and --style")


# --- Every command refuses to overwrite its inputs, and non-finite float flags ---------


def _files(directory):
  """{relative path: bytes} of every file under `directory`."""
  return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*")
          if p.is_file()}


def _refused(done, output, the_input, directory, before):
  """The command named `output` and `the_input` in one error line and wrote nothing."""
  fails_cleanly(done, f"error: the output {output} is the input {the_input}")
  assert done.returncode == 1
  assert _files(directory) == before


@pytest.fixture(scope="module")
def _inputs_once(tmp_path_factory, tiny_weights_file):
  from jaxstyle import video  # pylint: disable=import-outside-toplevel
  from jaxstyle.johnson import models  # pylint: disable=import-outside-toplevel
  from jaxstyle.nets import johnson  # pylint: disable=import-outside-toplevel
  d = tmp_path_factory.mktemp("inputs") / "in"
  d.mkdir()
  for i, name in enumerate(["c.png", "s.png", "m.png", "i.png", "o_seed1.png",
                            "o_sheet.png", "photos/a.png", "photos/b.jpg",
                            "batch/a.png", "batch/a__s.png", "frames/frame_00000.png",
                            "frames/frame_00001.png"]):
    (d / name).parent.mkdir(exist_ok=True)
    _save(random_image(24, 32, i), d / name)
  config = johnson.ImageTransformConfig(widths=(4, 4, 4), num_residual=1)
  models.save_model(models.FastModel(config, johnson.init_variables(config, seed=0)),
                    d / "model.msgpack")
  (d / "model.png").write_bytes((d / "model.msgpack").read_bytes())
  (d / "w.npz").write_bytes(tiny_weights_file.read_bytes())
  video.write_frames(np.stack([random_image(24, 32, t) for t in range(3)]), d / "clip.gif")
  return d


@pytest.fixture
def inputs(tmp_path, _inputs_once):
  """A folder of small inputs for every command: images, a frames folder, a GIF, a tiny
  feed-forward model and a copy of the tiny VGG weights."""
  return shutil.copytree(_inputs_once, tmp_path / "in")


@pytest.mark.parametrize("args, output, the_input", [
    (["--output={d}/sub/../c.png"], "{d}/sub/../c.png", "{d}/c.png"),
    (["--output={d}/s.png"], "{d}/s.png", "{d}/s.png"),
    (["--style_masks={d}/m.png", "--output={d}/m.png"], "{d}/m.png", "{d}/m.png"),
    (["--init={d}/i.png", "--output={d}/i.png"], "{d}/i.png", "{d}/i.png"),
    (["--metrics_json={d}/w.npz"], "{d}/w.npz", "{d}/w.npz"),
    (["--num_seeds=2", "--seed=0", "--output={d}/o.png", "--style={d}/o_seed1.png"],
     "{d}/o_seed1.png", "{d}/o_seed1.png"),
    (["--num_seeds=2", "--output={d}/o.png", "--style={d}/o_sheet.png"],
     "{d}/o_sheet.png", "{d}/o_sheet.png"),
    (["--content={d}/batch", "--output_dir={d}/batch"], "{d}/batch/a__s.png",
     "{d}/batch/a__s.png"),
])
def test_stylize_refuses_to_overwrite_an_input(inputs, args, output, the_input):
  d = inputs
  before = _files(d)
  given = {a.split("=")[0] for a in args}
  defaults = [a for a in (f"--content={d / 'c.png'}", f"--style={d / 's.png'}",
                          f"--output={d / 'out.png'}") if a.split("=")[0] not in given]
  done = run_cli(*defaults, *[a.format(d=d) for a in args], "--image_size=32",
                 "--num_steps=1", f"--weights={d / 'w.npz'}")
  _refused(done, output.format(d=d), the_input.format(d=d), d, before)


def test_stylize_refuses_snapshots_named_like_an_input(inputs):
  """--save_every's OUTPUT_stepNNNNN files must not replace an input either."""
  d = inputs
  (d / "o_step00001.png").write_bytes((d / "s.png").read_bytes())
  before = _files(d)
  done = run_cli(f"--content={d / 'c.png'}", f"--style={d / 'o_step00001.png'}",
                 f"--output={d / 'o.png'}", "--save_every=1", "--image_size=32",
                 "--num_steps=1", f"--weights={d / 'w.npz'}")
  fails_cleanly(done, f"error: --save_every would write snapshots named like the input "
                      f"{d / 'o_step00001.png'}")
  assert _files(d) == before


@pytest.mark.parametrize("args, output, the_input", [
    (["--content={d}/c.png", "--output={d}/c.png"], "{d}/c.png", "{d}/c.png"),
    # A directory: OUTPUT/NAME.EXT per input, here photos/b.jpg from photos/b.jpg.
    (["--content={d}/photos", "--output={d}/photos", "--ext=jpg"], "{d}/photos/b.jpg",
     "{d}/photos/b.jpg"),
    (["--content={d}/c.png", "--output={d}/model.png", "--model={d}/model.png"],
     "{d}/model.png", "{d}/model.png"),
])
def test_fast_refuses_to_overwrite_an_input(inputs, args, output, the_input):
  d = inputs
  before = _files(d)
  args = [a.format(d=d) for a in args]
  if not any(a.startswith("--model=") for a in args):
    args.append(f"--model={d / 'model.msgpack'}")
  done = run_main("jaxstyle.cli.fast", *args)
  _refused(done, output.format(d=d), the_input.format(d=d), d, before)


_VIDEO_REFUSALS = [
    (["--input={d}/frames", "--output={d}/frames"], "{d}/frames/frame_00000.png",
     "{d}/frames/frame_00000.png"),
    (["--pan={d}/c.png", "--output={d}/frames", "--method=warm",
      "--style={d}/frames/frame_00001.png"], "{d}/frames/frame_00001.png",
     "{d}/frames/frame_00001.png"),
    (["--pan={d}/c.png", "--output={d}/out", "--metrics_json={d}/c.png"], "{d}/c.png",
     "{d}/c.png"),
    (["--pan={d}/c.png", "--output={d}/out", "--model={d}/model.msgpack",
      "--metrics_json={d}/model.msgpack"], "{d}/model.msgpack", "{d}/model.msgpack"),
    (["--input={d}/clip.gif", "--output={d}/clip.gif"], "{d}/clip.gif", "{d}/clip.gif"),
]


def _video_args(d, args):
  args = [a.format(d=d) for a in args]
  if not any(a.startswith("--model=") for a in args):
    args.append(f"--model={d / 'model.msgpack'}")
  return [*args, "--num_frames=2", "--image_size=32"]


@pytest.mark.parametrize("args, output, the_input", _VIDEO_REFUSALS)
def test_video_refuses_to_overwrite_an_input(inputs, args, output, the_input):
  d = inputs
  before = _files(d)
  done = run_main("jaxstyle.cli.video", *_video_args(d, args))
  _refused(done, output.format(d=d), the_input.format(d=d), d, before)


def _train_args(d, *extra):
  return [f"--style={d / 's.png'}", f"--dataset_dir={d / 'photos'}",
          f"--output_dir={d / 'run'}", f"--weights={d / 'w.npz'}", "--crop_size=16",
          "--batch_size=1", "--widths=4,4,4", "--num_residual=1", "--num_steps=1", *extra]


@pytest.mark.parametrize("model_out, extra", [
    ("s.png", []), ("c.png", ["--samples={d}/m.png,{d}/c.png"]), ("w.npz", [])])
def test_train_fast_refuses_to_overwrite_an_input(inputs, model_out, extra):
  d = inputs
  before = _files(d)
  done = run_main("jaxstyle.cli.train_fast", *_train_args(
      d, f"--model_out={d / model_out}", *[a.format(d=d) for a in extra]))
  _refused(done, d / model_out, d / model_out, d, before)


def test_train_fast_refuses_a_model_out_that_is_its_checkpoint(inputs):
  d = inputs
  before = _files(d)
  done = run_main("jaxstyle.cli.train_fast", *_train_args(
      d, f"--model_out={d / 'run' / 'x' / '..' / 'checkpoint.msgpack'}"))
  fails_cleanly(done, "is the run's own checkpoint.msgpack: choose another path")
  assert _files(d) == before and not (d / "run").exists()


@pytest.mark.parametrize("args, path", [
    (["convert", "--format=keras", "--input={d}/w.npz", "--output={d}/w.npz"], "{d}/w.npz"),
    (["normalize", "--images={d}/photos", "--input={d}/w.npz", "--output={d}/w.npz"],
     "{d}/w.npz"),
    (["fetch", "--wheel={d}/w.npz", "--output={d}/w.npz"], "{d}/w.npz"),
])
def test_weights_refuses_to_overwrite_an_input(inputs, args, path):
  d = inputs
  before = _files(d)
  done = run_main("jaxstyle.weights", *[a.format(d=d) for a in args])
  _refused(done, path.format(d=d), path.format(d=d), d, before)


# One real process per command (`jaxstyle`'s is test_writes_image_and_metrics): the module
# runs as `python -m`, the refusal is one line and the exit status 1.
@pytest.mark.parametrize("module, args, output", [
    ("jaxstyle.cli.fast", ["--content={d}/c.png", "--output={d}/c.png",
                                  "--model={d}/model.msgpack"], "{d}/c.png"),
    ("jaxstyle.cli.video", ["--input={d}/clip.gif", "--output={d}/clip.gif",
                            "--model={d}/model.msgpack"], "{d}/clip.gif"),
    ("jaxstyle.cli.train_fast", ["--style={d}/s.png", "--dataset_dir={d}/photos",
                                        "--output_dir={d}/run", "--model_out={d}/s.png"],
     "{d}/s.png"),
    ("jaxstyle.weights", ["convert", "--format=keras", "--input={d}/w.npz",
                          "--output={d}/w.npz"], "{d}/w.npz"),
])
def test_each_command_runs_as_a_process(inputs, module, args, output):
  d = inputs
  before = _files(d)
  done = run_subprocess(module, *[a.format(d=d) for a in args])
  _refused(done, output.format(d=d), output.format(d=d), d, before)


@pytest.mark.parametrize("flag", [
    "--content_weight=nan", "--style_weight=inf", "--tv_weight=nan", "--learning_rate=inf",
    "--style_scale=nan", "--style_rotation=-inf"])
def test_stylize_rejects_non_finite_flags(inputs, flag):
  d = inputs
  before = _files(d)
  done = run_cli(f"--content={d / 'c.png'}", f"--style={d / 's.png'}",
                 f"--output={d / 'out.png'}", "--image_size=32", "--num_steps=1", flag,
                 f"--weights={d / 'w.npz'}")
  name, value = flag[2:].split("=")
  if name.endswith("_weight"):  # Numbers or sweeps: refused as the flags are parsed.
    fails_cleanly(done, f"flag --{name}={value}: must be non-negative finite numbers")
  else:
    must = "a finite number" if name == "style_rotation" else "a positive finite number"
    fails_cleanly(done, f"error: --{name} must be {must}, got {float(value)}")
  assert _files(d) == before


@pytest.mark.parametrize("flag", ["--style_blend_weights=1,nan", "--style_layer_weights=inf"])
def test_stylize_rejects_non_finite_numbers_in_lists(inputs, flag):
  d = inputs
  before = _files(d)
  done = run_cli(f"--content={d / 'c.png'}", f"--style={d / 's.png'},{d / 'm.png'}",
                 f"--output={d / 'out.png'}", "--image_size=32", "--num_steps=1", flag,
                 f"--weights={d / 'w.npz'}")
  name, value = flag[2:].split("=")
  fails_cleanly(done, f"error: --{name} must be finite numbers, got {value}")
  assert _files(d) == before


@pytest.mark.parametrize("flag", ["--content_weight=nan", "--style_weight=inf"])
def test_video_rejects_non_finite_flags(inputs, flag):
  d = inputs
  before = _files(d)
  done = run_main("jaxstyle.cli.video", f"--pan={d / 'c.png'}", f"--output={d / 'out'}",
                  "--method=warm", f"--style={d / 's.png'}", "--num_frames=2",
                  "--image_size=32", "--num_steps=1", flag)
  name, value = flag[2:].split("=")
  fails_cleanly(done, f"error: --{name} must be a finite number, got {float(value)}")
  assert _files(d) == before


@pytest.mark.parametrize("flag", [
    "--learning_rate=nan", "--content_weight=inf", "--style_weight=nan", "--tv_weight=inf",
    "--saturation_weight=nan"])
def test_train_fast_rejects_non_finite_flags(inputs, flag):
  d = inputs
  before = _files(d)
  done = run_main("jaxstyle.cli.train_fast", *_train_args(d, flag))
  name, value = flag[2:].split("=")
  fails_cleanly(done, f"error: --{name} must be a finite number, got {float(value)}")
  assert _files(d) == before and not (d / "run").exists()


def test_a_weight_sweep_writes_one_image_per_point_and_a_labelled_sheet(
    tmp_path, pictures, tiny_weights_file):
  out = tmp_path / "w.png"
  metrics = tmp_path / "w.json"
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 f"--output={out}", "--image_size=32", "--num_steps=3",
                 "--style_weight=1e-4,1e-2", f"--metrics_json={metrics}",
                 weights=tiny_weights_file)
  assert done.returncode == 0, done.stderr
  low, high = (np.asarray(Image.open(tmp_path / f"w_sw{v}.png"), np.float32)
               for v in ("1e-04", "1e-02"))
  assert low.shape == high.shape == (24, 32, 3) and np.abs(low - high).mean() > 0.5
  assert Image.open(tmp_path / "w_sheet.png").size[0] > 64
  assert not (tmp_path / "w.png").exists()
  m = json.loads(metrics.read_text())
  assert m["run"]["style_weight"] == [1e-4, 1e-2] and m["run"]["init"] == "content"
  assert m["points"] == [{"style_weight": 1e-4}, {"style_weight": 1e-2}]
  total = np.array(m["history"]["total"])
  assert total.shape == (4, 2)
  # Both start from the photo (init auto, one seed): no content loss, beta x style.
  style = np.array(m["history"]["style"])
  np.testing.assert_allclose(total[0], [1e-4 * style[0, 0], 1e-2 * style[0, 1]], rtol=1e-5)


@pytest.mark.parametrize("flag, message", [
    ("--style_weight=1e-3,-1", "non-negative finite"),
    ("--content_weight=1,x", "comma-separated numbers"),
    ("--tv_weight=nan", "non-negative finite"),
    ("--style_weight=1e-3,0.001",
     "error: --style_weight: the sweep (0.001, 0.001) repeats a value"),
])
def test_bad_weight_lists(pictures, tiny_weights_file, flag, message):
  done = run_cli(f"--content={pictures / 'content.jpg'}", f"--style={pictures / 'rgba.png'}",
                 flag, weights=tiny_weights_file)
  fails_cleanly(done, message)
