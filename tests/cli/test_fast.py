"""`jaxstyle-fast` (jaxstyle/cli/fast.py), in this process (tests/commands.run_main)."""

import numpy as np
import pytest
from PIL import Image

from jaxstyle.johnson import inference, models
from jaxstyle.nets import johnson as transformer

from tests.cli.conftest import assert_refused, files_in, identity_network, kept_files, no_files
from tests.commands import run_main
from tests.conftest import random_image

TINY_NET = transformer.ImageTransformConfig(widths=(4, 6, 8), num_residual=1)


@pytest.mark.slow
def test_inference_on_a_directory_skips_bad_files(photo_dir, tmp_path):
  variables = transformer.init_variables(TINY_NET, seed=2)
  models.save_model(models.FastModel(TINY_NET, variables), tmp_path / "m.msgpack")
  done = run_main("jaxstyle.cli.fast", f"--model={tmp_path / 'm.msgpack'}",
                  f"--content={photo_dir}", f"--output={tmp_path / 'out'}")
  assert done.returncode == 0, done.stderr
  assert "8 stylized, 1 failed" in done.stdout and "broken.jpg" in done.stdout
  assert "ms per image (median of 6" in done.stdout  # 8 images, 2 sizes: 2 compile.
  written = sorted(p.name for p in (tmp_path / "out").iterdir())
  assert written == [f"photo{i}.jpg" for i in range(8)]
  for i in (2, 3):
    with Image.open(tmp_path / "out" / f"photo{i}.jpg") as im, Image.open(
        photo_dir / f"photo{i}.png") as src:
      assert im.size == src.size


def test_inference_refuses_two_inputs_with_one_output_name(tmp_path):
  """a.png and a.jpg in one directory would both become OUT/a.jpg: refused, nothing
  written."""
  variables = transformer.init_variables(TINY_NET, seed=2)
  models.save_model(models.FastModel(TINY_NET, variables), tmp_path / "m.msgpack")
  photos = tmp_path / "photos"
  photos.mkdir()
  for name in ("a.png", "a.jpg", "b.png"):
    Image.fromarray((random_image(24, 32) * 255).astype(np.uint8)).save(photos / name)
  done = run_main("jaxstyle.cli.fast", f"--model={tmp_path / 'm.msgpack'}",
                  f"--content={photos}", f"--output={tmp_path / 'out'}")
  assert done.returncode == 1, done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "would both be written to" in last, last
  assert str(tmp_path / "out" / "a.jpg") in last
  assert not (tmp_path / "out").exists()


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
  before = files_in(d)
  args = [a.format(d=d) for a in args]
  if not any(a.startswith("--model=") for a in args):
    args.append(f"--model={d / 'model.msgpack'}")
  done = run_main("jaxstyle.cli.fast", *args)
  assert_refused(done, output.format(d=d), the_input.format(d=d), d, before)


def test_fast_keeps_the_image_when_the_disk_is_full(tmp_path, d, full_disk, monkeypatch):
  """The network is the identity here: what is tested is where its output goes."""
  monkeypatch.setattr(inference, "stylize_fast", identity_network)
  out = full_disk(tmp_path / "out")
  done = run_main("jaxstyle.cli.fast", f"--model={d / 'model.msgpack'}",
                  f"--content={d / 'c.png'}", f"--output={out / 'o.png'}")
  [(what, image)] = kept_files(done, full_disk.systemp)
  assert what == "the image" and image.suffix == ".png"
  np.testing.assert_array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(d / "c.png")))
  assert no_files(out)
