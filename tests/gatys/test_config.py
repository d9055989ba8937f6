"""jaxstyle.StylizeConfig: one tree of settings, flat names, checks where it is built."""

import dataclasses
import json

import pytest

from jaxstyle import features, kernels, losses, precision
from jaxstyle.gatys import config as config_lib
from jaxstyle.gatys import objective, pyramid, solvers, transfer
from jaxstyle.gatys.config import StylizeConfig
from tests.conftest import random_image


def test_flat_names_are_unique_across_the_tree():
  """Every field of every group has a flat name no other field has, so that
  stylize(..., name=value) and --name=value reach exactly one field."""
  names = [f.name for group in dataclasses.fields(StylizeConfig)
           for f in dataclasses.fields(getattr(StylizeConfig(), group.name))]
  assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
  assert set(config_lib.FLAT_FIELDS) == set(names)
  assert set(StylizeConfig().flat()) == set(names)
  # The group names are not field names (a recorded run's JSON is unambiguous).
  assert not {f.name for f in dataclasses.fields(StylizeConfig)} & set(names)


def test_replace_by_flat_name_sets_one_field_and_checks_again():
  config = StylizeConfig().replace(num_steps=300, style_weight=(1e-4, 1e-3), pooling="avg")
  assert config.solver.num_steps == 300 and config.objective.pooling == "avg"
  assert config.objective.style_weight == (1e-4, 1e-3)
  changed = {k for k, v in config.flat().items() if v != StylizeConfig().flat()[k]}
  assert changed == {"num_steps", "style_weight", "pooling"}
  assert StylizeConfig() == StylizeConfig() and hash(config) == hash(
      StylizeConfig().replace(pooling="avg", style_weight=[1e-4, 1e-3], num_steps=300))
  with pytest.raises(TypeError, match="unknown setting 'num_step'; did you mean num_steps"):
    StylizeConfig().replace(num_step=3)
  with pytest.raises(dataclasses.FrozenInstanceError):
    config.solver.num_steps = 1  # type: ignore[misc]


# (flat overrides, the message): every setting refused where the config is built.
REFUSED = [
    ({"optimizer": "newton"}, "optimizer must be one of lbfgs, adam"),
    ({"num_steps": 0}, "num_steps must be positive, got 0"),
    ({"num_steps": 2.5}, "num_steps must be an integer"),
    ({"learning_rate": -1.0}, "learning_rate must be a positive finite number, got -1.0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive finite number, got nan"),
    ({"lbfgs_history": 0}, "lbfgs_history must be positive"),
    ({"lbfgs_linesearch": "wolfe"}, "lbfgs_linesearch must be one of zoom, backtracking or None"),
    ({"steps_per_call": 0}, "steps_per_call must be positive"),
    ({"time_limit": 0.0}, "time_limit must be a positive finite number"),
    ({"clamp": True}, "options of adam, sgd, adagrad, not lbfgs"),
    ({"optimizer": "adam", "average_decay": 1.5}, r"average_decay must be in \(0, 1\)"),
    ({"optimizer": "adam", "adam_betas": (0.9,)}, "adam_betas must be two numbers"),
    ({"carry_state": True}, "carry_state warm-starts adam, sgd, adagrad, not lbfgs"),
    ({"scales": 0}, "scales must be positive"),
    ({"scales": 2, "scale_steps": (3, 2, 1)}, "scale_steps has 3 values for scales=2"),
    ({"scale_steps": ("3", "x")}, "scale_steps must be comma-separated integers, got 3,x"),
    ({"scale_factor": 1.0}, "scale_factor must be greater than 1"),
    ({"coarsest_size": 8}, "coarsest_size must be at least 16"),
    ({"finer_steps": 0}, "finer_steps must be positive"),
    ({"image_size": 8}, "image_size must be at least 16"),
    ({"style_scale": 0.0}, "style_scale must be a positive finite number"),
    ({"style_scale": 0.5, "style_size": 256}, "style_scale or style_size, not both"),
    ({"style_rotation": float("inf")}, "style_rotation must be a finite number"),
    ({"preserve_color": "sepia"}, "preserve_color must be one of luminance, histogram or None"),
    ({"init": "photo"}, "init must be one of auto, noise"),
    ({"num_seeds": 0}, "num_seeds must be positive"),
    ({"num_seeds": 2, "init": "content"}, "several seeds only differ when starting from"),
    ({"precision": "float64"}, "precision must be one of float32"),
    ({"kernels": "gpu"}, "kernels must be one of auto, xla, cpu"),
    ({"log_every": -1}, "log_every must be non-negative"),
    ({"network": "resnet"}, "network must be one of vgg19, vgg16, alexnet"),
    ({"pooling": "min"}, "pooling must be one of max, avg"),
    ({"style_loss": "wasserstein"}, "style_loss must be one of gram"),
    ({"content_normalization": "l1"}, "content_normalization must be one of mean, sum"),
    ({"tv_normalization": "l1"}, "tv_normalization must be one of mean, sum or None"),
    ({"style_layers": ("conv9_1",)}, "style_layers: unknown VGG-19 layer"),
    ({"network": "alexnet", "content_layers": ("conv4_2",)}, "content_layers: unknown AlexNet"),
    ({"style_layer_weights": (1.0, 2.0)}, "2 style layer weights for 5 style layers"),
    ({"style_blend_weights": (0.0, 0.0)}, "positive sum"),
    ({"style_weight": -1.0}, "style_weight must be a non-negative finite number"),
    ({"tv_weight": (1.0, 1.0)}, "repeats a value"),
    ({"content_weight": ()}, "an empty sweep"),
    ({"histogram_weight": -1.0}, "histogram_weight must be a non-negative"),
    ({"style_layer_weights": (1.0, float("nan"), 1, 1, 1)}, "must be finite numbers"),
]


@pytest.mark.parametrize("overrides, message", REFUSED,
                         ids=["-".join(map(str, o)) for o, _ in REFUSED])
def test_every_setting_is_checked_where_the_config_is_built(overrides, message):
  with pytest.raises(ValueError, match=message):
    StylizeConfig().replace(**overrides)


def test_names_come_from_the_library_tables():
  """Every entry of the library's tables is accepted: the config imports them."""
  for method in solvers.METHODS:
    assert StylizeConfig().replace(optimizer=method).solver.optimizer == method
  for name in losses.STYLE_LOSSES:
    assert StylizeConfig().replace(style_loss=name).objective.style_loss == name
  for network in features.FEATURE_NETWORKS:
    assert StylizeConfig().replace(network=network).objective.network == network
  for value in precision.PRECISIONS:
    StylizeConfig().replace(precision=value)
  for value in kernels.KERNELS:
    StylizeConfig().replace(kernels=value)
  # Without a network, layer names of any network pass (the weights decide later).
  assert StylizeConfig().replace(style_layers=["conv1", "conv2"]).objective.style_layers == (
      "conv1", "conv2")


def test_a_config_survives_json():
  config = StylizeConfig().replace(
      style_weight=(1e-4, 1e-2), content_layers=["conv4_2"], adam_betas=[0.5, 0.9],
      optimizer="adam", scale_steps=(10, 5), time_limit=30.0, init="noise", num_seeds=3,
      lbfgs_linesearch="none", style_blend_weights=(1, 3))
  assert config.solver.lbfgs_linesearch is None  # The flag's "none".
  assert config.objective.style_blend_weights == (1.0, 3.0)
  again = StylizeConfig.from_dict(json.loads(json.dumps(config.to_dict())))
  assert again == config
  with pytest.raises(ValueError, match="unknown config group"):
    StylizeConfig.from_dict({"optimiser": {}})
  with pytest.raises(ValueError, match="solver has no field 'pooling'"):
    StylizeConfig.from_dict({"solver": {"pooling": "avg"}})


def test_resolve_fills_the_networks_defaults():
  objective = StylizeConfig().objective
  vgg = objective.resolve("vgg19")
  assert vgg.content_layers == ("conv4_2",) and vgg.style_weight == 1e-3
  alexnet = objective.resolve("alexnet")
  assert alexnet.style_layers == features.FEATURE_NETWORKS["alexnet"].default_layers[1]
  sweep = StylizeConfig().replace(style_weight=(1.0, 2.0), tv_weight=(0.0, 3.0)).objective
  assert sweep.resolve("vgg19").style_weight == 1.0  # The first point.
  point = sweep.resolve("vgg19", point={"style_weight": 2.0, "tv_weight": 3.0})
  assert (point.style_weight, point.tv_weight) == (2.0, 3.0)


def test_an_entry_registered_in_a_table_is_a_choice_of_the_config(monkeypatch, tiny_weights):
  """The config checks names against the library's registries themselves (not copies
  made at import): a feature network or solver registered later is a valid choice, and
  the network's entry is all the library needs (its layers, its module, its defaults,
  whether masks map onto it)."""
  entry = features.FEATURE_NETWORKS["vgg19"]
  twin = dataclasses.replace(entry, default_layers=(("conv3_2",), ("conv1_1", "conv2_1")),
                             guides=False)
  monkeypatch.setitem(features.FEATURE_NETWORKS, "vgg19_twin", twin)
  monkeypatch.setitem(solvers.SOLVERS, "sgd_twin", solvers.SOLVERS["sgd"])
  with pytest.raises(ValueError, match="no calibrated style_weight for vgg19_twin"):
    StylizeConfig().replace(network="vgg19_twin")
  # Its calibrated beta (`python -m benchmarks.quality --calibrate`).
  monkeypatch.setitem(objective.DEFAULT_STYLE_WEIGHTS, ("gram", "vgg19_twin"), 0.5)
  config = StylizeConfig().replace(network="vgg19_twin", optimizer="sgd_twin")
  assert config.replace(clamp=True).solver.clamp  # A first-order method's option.
  assert config.objective.resolve("vgg19_twin").style_weight == 0.5
  assert StylizeConfig().replace(network="vgg19_twin", style_weight=2.0).objective.resolve(
      "vgg19_twin").style_weight == 2.0
  resolved = config.objective.resolve("vgg19_twin")
  assert (resolved.content_layers, resolved.style_layers) == twin.default_layers
  assert features.check_layers(["pool4"], "vgg19_twin") == ("pool4",)
  module = features.network_module("vgg19_twin", tiny_weights.widths, kernels="xla")
  assert type(module) is type(features.network_module("vgg19", tiny_weights.widths,
                                                      kernels="xla"))
  with pytest.raises(ValueError, match="style masks work with the VGGs, not vgg19_twin"):
    config.objective.resolve("vgg19_twin", guided=True)
  with pytest.raises(ValueError, match="network must be one of vgg19, vgg16, alexnet, "
                                       "vgg19_twin or None, got 'vgg20'"):
    StylizeConfig().replace(network="vgg20")


def test_auto_scales_from_a_coarsest_size():
  root2 = 2**0.5
  # crowsonkb's gen_scales(128, end): 256 -> 128, 181, 256; 512 -> 128, ..., 512.
  assert config_lib.auto_scales(170, 256, factor=root2, coarsest_size=128) == 3
  assert config_lib.auto_scales(341, 512, factor=root2, coarsest_size=128) == 5
  assert config_lib.auto_scales(80, 100, factor=root2, coarsest_size=128) == 1
  assert config_lib.auto_scales(341, 512) == 2  # The default rule is unchanged.
  shapes = pyramid.level_shapes(170, 256, 3, root2)
  assert [max(s) for s in shapes] == [128, 181, 256]


def test_sweep_points_and_names():
  assert config_lib.sweep_points(style_weight=1e-3, tv_weight=0.0) is None
  assert config_lib.sweep_points(style_weight=[1e-4, 1e-3], tv_weight=(0, 1)) == [
      {"style_weight": 1e-4, "tv_weight": 0.0}, {"style_weight": 1e-4, "tv_weight": 1.0},
      {"style_weight": 1e-3, "tv_weight": 0.0}, {"style_weight": 1e-3, "tv_weight": 1.0}]
  assert config_lib.point_label({"style_weight": 1e-4}) == "sw1e-04"
  assert config_lib.point_label({"content_weight": 2.5e-3, "tv_weight": 10.0}, " ") == (
      "cw 2.5e-03_tv 1e+01")
  with pytest.raises(ValueError, match="empty sweep"):
    config_lib.sweep_points(style_weight=())
  with pytest.raises(ValueError, match="repeats a value"):  # Two images of one name.
    config_lib.sweep_points(style_weight=(1e-3, 1e-3))
  with pytest.raises(ValueError, match="must be a non-negative"):
    transfer.stylize(random_image(24, 32), random_image(24, 32, 1), style_weight=(1.0, -1.0),
                     weights=None, num_steps=1)
