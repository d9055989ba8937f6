"""`jaxstyle`'s setting flags (jaxstyle/cli/config_flags.py): every StylizeConfig field is a
flag with the field's default, and every flag arrives in the library (in a real run too);
--config takes a Python config file, with --config.GROUP.FIELD and the flat flags over it,
or a recorded run, which reruns to the same images and refuses inputs changed since.

In this process (`tests.commands.run_main`), on the tiny network at 24x32 px with the
default loss weights (each new alpha or beta compiles anew).
"""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxstyle import images
from jaxstyle.gatys import transfer
from jaxstyle.gatys.config import StylizeConfig
from tests.cli.conftest import stylize_args
from tests.commands import fails_cleanly, run_main
from tests.conftest import random_image


# --- Every flag reaches jaxstyle.stylize -------------------------------------------------

# (flag, the config field it sets, its value there); none of these
# is the default, so a flag that the command drops or hard-codes leaves the default.
FLAG_CASES = [
    ("--kernels=xla", "kernels", "xla"),
    ("--kernels=cpu", "kernels", "cpu"),
    ("--precision=bfloat16", "precision", "bfloat16"),
    ("--precision=tensorfloat32", "precision", "tensorfloat32"),
    ("--steps_per_call=3", "steps_per_call", 3),
    ("--lbfgs_linesearch=backtracking", "lbfgs_linesearch", "backtracking"),
    ("--lbfgs_linesearch=zoom", "lbfgs_linesearch", "zoom"),
    ("--adam_betas=0.5,0.9", "adam_betas", (0.5, 0.9)),
    ("--clamp", "clamp", True),
    ("--average_decay=0.9", "average_decay", 0.9),
    ("--pooling=avg", "pooling", "avg"),
    ("--content_normalization=sum", "content_normalization", "sum"),
    ("--content_normalization=scaled", "content_normalization", "scaled"),
    ("--tv_normalization=sum", "tv_normalization", "sum"),
    ("--tv_normalization=mean", "tv_normalization", "mean"),
    ("--histogram_weight=1000", "histogram_weight", 1000.0),
    ("--scale_factor=1.5", "scale_factor", 1.5),
    ("--carry_state", "carry_state", True),
]


def _captured_settings(monkeypatch, pictures, weights, out, *flags):
  """The config's fields (flat) the command passes to transfer.stylize (which is not
  run); adam, so that its options are accepted."""
  calls = []

  def fake_stylize(content, style, config, **unused):
    calls.append(config.flat())
    return transfer.StylizeResult(images=np.asarray(content)[None], seeds=[0],
                                  history={"total": np.zeros((1, 1), np.float32)}, steps=0,
                                  stopped=None, config=config, run={})

  monkeypatch.setattr(transfer, "stylize", fake_stylize)
  done = run_main("jaxstyle.stylize", *stylize_args(pictures, weights, out, "--num_steps=3",
                                                    "--optimizer=adam", *flags))
  assert done.returncode == 0, done.stderr
  [settings] = calls
  return settings


@pytest.mark.parametrize("flag, name, value", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_flag_reaches_the_library(tmp_path, monkeypatch, pictures, tiny_weights_file, flag,
                                  name, value):
  """The flag sets its own argument, to its value, and nothing else."""
  default = _captured_settings(monkeypatch, pictures, tiny_weights_file, tmp_path / "a.png")
  given = _captured_settings(monkeypatch, pictures, tiny_weights_file, tmp_path / "b.png", flag)
  assert default[name] != value
  assert given[name] == value
  assert {k: v for k, v in given.items() if k != name} == {
      k: v for k, v in default.items() if k != name}


def _run(tmp_path, pictures, weights, *flags):
  """A real run; returns (the Done, its --metrics_json)."""
  metrics = tmp_path / "m.json"
  done = run_main("jaxstyle.stylize", *stylize_args(pictures, weights, tmp_path / "out.png",
                                                    f"--metrics_json={metrics}", *flags))
  assert done.returncode == 0, done.stderr
  return done, json.loads(metrics.read_text())


@pytest.mark.slow
def test_first_order_schedule_and_loss_flags_in_a_real_run(tmp_path, pictures,
                                                           tiny_weights_file):
  """--adam_betas, --clamp, --average_decay, --carry_state, --scale_factor, --pooling,
  --content_normalization, --tv_normalization and --kernels in one run, as it records
  them; the two scales are 1.5x apart."""
  _, m = _run(tmp_path, pictures, tiny_weights_file, "--optimizer=adam", "--adam_betas=0.5,0.9",
              "--clamp", "--average_decay=0.9", "--carry_state", "--scales=2",
              "--scale_factor=1.5", "--num_steps=3", "--finer_steps=2", "--pooling=avg",
              "--content_normalization=sum", "--tv_weight=1", "--tv_normalization=mean",
              "--kernels=xla")
  config = StylizeConfig.from_dict(m["config"]).flat()
  assert config["adam_betas"] == (0.5, 0.9) and config["clamp"] is True
  assert config["average_decay"] == 0.9 and config["carry_state"] is True
  assert (config["pooling"], config["content_normalization"], config["tv_normalization"],
          config["kernels"]) == ("avg", "sum", "mean", "xla")
  assert config["scale_factor"] == 1.5
  assert [(s["height"], s["width"], s["steps"]) for s in m["run"]["scales"]] == [
      (16, 21, 3), (24, 32, 2)]
  total = np.asarray(m["history"]["total"])[:, 0]
  assert len(total) == 6 and np.all(np.isfinite(total))
  assert np.asarray(m["history"]["tv"])[0, 0] > 0
  assert Image.open(tmp_path / "out.png").size == (32, 24)


@pytest.mark.slow
def test_lbfgs_line_search_and_precision_in_a_real_run(tmp_path, pictures, tiny_weights_file):
  """--lbfgs_linesearch=backtracking and --precision=bfloat16, as the run records them:
  the line search evaluates the loss at least once per step."""
  _, m = _run(tmp_path, pictures, tiny_weights_file, "--num_steps=3",
              "--lbfgs_linesearch=backtracking", "--precision=bfloat16", "--kernels=xla")
  config = StylizeConfig.from_dict(m["config"]).flat()
  assert (config["lbfgs_linesearch"], config["precision"]) == ("backtracking", "bfloat16")
  assert m["run"]["evaluations"] >= 3
  total = np.asarray(m["history"]["total"])[:, 0]
  assert len(total) == 4 and total[-1] < total[0]


# --- Flags are the config's fields -------------------------------------------------------


def test_the_setting_flags_are_the_config_fields_with_their_defaults():
  """Every StylizeConfig field is a flag of `jaxstyle` (under its own name, or
  config_flags.FLAG_OF's), with the field's default (but config_flags.CLI_DEFAULTS), its
  help and its choices; and every flag of the command is a field or one of the files,
  batch and output flags. Fails for a field added without a flag or a flag whose
  default drifted from the library's."""
  from absl import flags  # pylint: disable=import-outside-toplevel
  from jaxstyle.cli import config_flags, stylize  # pylint: disable=import-outside-toplevel
  from jaxstyle.gatys import config as config_lib  # pylint: disable=import-outside-toplevel
  stylize._define_flags()  # pylint: disable=protected-access
  FLAGS = flags.FLAGS
  fields = config_flags.fields()
  assert len(fields) == len(config_lib.FLAT_FIELDS)
  for name, field in fields:
    flag = FLAGS[name]
    want = config_flags.CLI_DEFAULTS.get(field.name, field.default)
    assert flag.default == want, (name, flag.default, want)
    if name not in ("kernels", "precision"):  # Every command's, defined in common.
      assert field.metadata["help"] in flag.help, name
    choices = field.metadata.get("choices")
    if choices is not None and field.name != "init":
      assert set(choices) <= set(flag.parser.enum_values), name
  module_flags = {f.name for f in FLAGS.get_flags_for_module("jaxstyle.cli.stylize")}
  module_flags |= {f.name for f in FLAGS.get_flags_for_module("jaxstyle.cli.config_flags")}
  not_settings = {"preset", "content", "style", "each_style", "output", "output_dir",
                  "style_masks", "demo", "rank_by", "metrics_json"}  # Files, outputs.
  every_command = {"kernels", "precision", "compilation_cache"}  # cli/common's.
  overrides = {n for n in module_flags if n.startswith("config.")}
  assert overrides == {f"config.{config_lib.group_of(f.name)}.{f.name}" for _, f in fields}
  assert (module_flags - not_settings - every_command - overrides - {"config"}) | {
      "kernels", "precision"} == {name for name, _ in fields}


def test_every_setting_flag_reaches_its_field(tmp_path, monkeypatch, pictures,
                                               tiny_weights_file):
  """A value given for each setting flag at once (apart from the defaults) arrives in
  the config: the generated flags parse into exactly the fields."""
  given = _captured_settings(
      monkeypatch, pictures, tiny_weights_file, tmp_path / "a.png", "--image_side=shorter",
      "--time_limit=30", "--shard_seeds=false", "--scale_steps=3,2", "--scales=2",
      "--style_layer_weights=1,1,1,1,1", "--style_blend_weights=2", "--tv_weight=0.5,1",
      "--preserve_color=histogram", "--seed=4")
  assert given["image_side"] == "shorter" and given["time_limit"] == 30.0
  assert given["shard_seeds"] is False and given["scale_steps"] == (3, 2)
  assert given["style_layer_weights"] == (1.0,) * 5 and given["style_blend_weights"] == (2.0,)
  assert given["tv_weight"] == (0.5, 1.0) and given["preserve_color"] == "histogram"
  assert given["seed"] == 4 and given["weights_file"].endswith(".npz")


# --- --config: a Python config file, a recorded run ---------------------------------------


def test_config_file_with_dotted_and_flat_overrides(tmp_path, monkeypatch, pictures,
                                                    tiny_weights_file):
  """--config=FILE.py: get_config()'s StylizeConfig, --config.GROUP.FIELD over it, the
  flat flags given over both; the flags not given leave the file's values alone."""
  path = tmp_path / "my_config.py"
  path.write_text("import jaxstyle\n\n\ndef get_config():\n"
                  "  return jaxstyle.StylizeConfig().replace(style_loss='mean_cov', "
                  "num_steps=40, tv_weight=2.0, pooling='avg')\n")
  given = _captured_settings(monkeypatch, pictures, tiny_weights_file, tmp_path / "a.png",
                             f"--config={path}", "--config.objective.tv_weight=5",
                             "--config.objective.pooling=max", "--pooling=avg")
  assert given["style_loss"] == "mean_cov" and given["tv_weight"] == 5.0
  assert given["pooling"] == "avg"  # The flat flag wins over --config.objective.pooling.
  assert given["num_steps"] == 3  # _captured_settings passes --num_steps=3.
  assert given["optimizer"] == "adam" and given["image_size"] == 32


@pytest.mark.parametrize("content, message", [
    ("def get_config():\n  return {'num_steps': 3}\n", "returned a dict, not a jaxstyle"),
    ("x = 1\n", "has no get_config()"),
    ("def get_config():\n  raise KeyError('oops')\n", "failed: KeyError"),
    (None, "no such file"),
])
def test_config_file_errors_are_one_line(tmp_path, pictures, tiny_weights_file, content,
                                         message):
  path = tmp_path / "c.py"
  if content is not None:
    path.write_text(content)
  done = run_main("jaxstyle.stylize", *stylize_args(pictures, tiny_weights_file,
                                                    tmp_path / "o.png", f"--config={path}"))
  fails_cleanly(done, message)


def test_config_flags_refuse_nonsense(tmp_path, pictures, tiny_weights_file):
  out = tmp_path / "o.png"
  fails_cleanly(run_main("jaxstyle.stylize", *stylize_args(pictures, tiny_weights_file, out,
                                                           "--config.solver.num_steps=3")),
                "--config.solver.num_steps overrides --config's field: give --config too")
  (tmp_path / "c.py").write_text("import jaxstyle\nget_config = jaxstyle.StylizeConfig\n")
  fails_cleanly(run_main("jaxstyle.stylize", *stylize_args(pictures, tiny_weights_file, out,
                                                           f"--config={tmp_path / 'c.py'}",
                                                           "--preset=crowsonkb")),
                "give --config or --preset, not both")


@pytest.mark.slow
def test_a_recorded_run_reruns_to_the_same_images_and_refuses_changed_inputs(
    tmp_path, pictures, tiny_weights_file):
  """--config=RUN.json: the recorded settings and files make the same image bit for bit
  (a rerun in a fresh process is the README's promise; here in one); a content photo or
  a weights file changed since is refused before any work, naming the file."""
  content, weights = tmp_path / "content.png", tmp_path / "w.npz"
  shutil.copy(pictures / "content.png", content)
  shutil.copy(tiny_weights_file, weights)
  first = tmp_path / "first.png"
  done, record = _run(tmp_path, pictures, weights, f"--content={content}", "--num_steps=4",
                      "--tv_weight=0.5", "--init=noise", "--seed=7")
  assert done.returncode == 0
  assert set(record["inputs"]["sha256"]) == {str(content), str(pictures / "style.png"),
                                             str(weights)}
  os.replace(tmp_path / "out.png", first)
  again = run_main("jaxstyle.stylize", f"--config={tmp_path / 'm.json'}",
                   f"--output={tmp_path / 'again.png'}")
  assert again.returncode == 0, again.stderr
  np.testing.assert_array_equal(np.asarray(Image.open(first)),
                                np.asarray(Image.open(tmp_path / "again.png")))
  images.save_image(random_image(24, 32, 9), content)  # The photo changed.
  fails_cleanly(run_main("jaxstyle.stylize", f"--config={tmp_path / 'm.json'}",
                         f"--output={tmp_path / 'x.png'}"),
                f"the content photo {content} changed since the recorded run")
  shutil.copy(pictures / "content.png", content)
  with open(weights, "ab") as f:  # The weights file changed.
    f.write(b"\0")
  fails_cleanly(run_main("jaxstyle.stylize", f"--config={tmp_path / 'm.json'}",
                         f"--output={tmp_path / 'x.png'}"),
                f"the weights file {weights} changed since the recorded run")
  assert not (tmp_path / "x.png").exists()
