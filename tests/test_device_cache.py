"""jaxstyle.device_cache: what is derived from an object (weights on the device, derived
kernels, programs) is made once per object and key, and goes when the object goes."""

import gc

from jaxstyle import device_cache, features
from jaxstyle.arbitrary import inference as arbitrary
from jaxstyle import weights as weights_lib
from jaxstyle.johnson import training
from jaxstyle.nets import johnson as transformer
from jaxstyle.weights import arbitrary as arbitrary_weights
from tests.conftest import TINY_WIDTHS


class _Owner:
  pass


def test_made_once_per_owner_and_key_and_freed_with_the_owner():
  cache, made = device_cache.PerObject(), []
  make = lambda: made.append(1) or len(made)
  a, b = _Owner(), _Owner()
  assert cache.get(a, "k", make) == 1 and cache.get(a, "k", make) == 1
  assert cache.get(a, "other", make) == 2 and cache.get(b, "k", make) == 3
  assert cache.owners() == 2
  del a
  gc.collect()
  assert cache.owners() == 1


def _freed(cache, use):
  """`use(owner)` fills `cache` for a new owner; True when deleting the owner frees it."""
  before = cache.owners()
  owner = use()
  assert cache.owners() == before + 1
  del owner
  gc.collect()
  return cache.owners() == before


def test_the_library_caches_free_their_weights():
  """The VGG's variables (and derived CPU kernels), the arbitrary networks on the device
  and the training programs: none keeps its weights alive (none is keyed by id())."""
  def vgg():
    w = weights_lib.random_weights(seed=5, widths=TINY_WIDTHS)
    features.network_variables(w, "xla")
    assert features.network_variables(w, "xla") is features.network_variables(w, "xla")
    return w

  def arbitrary_nets():
    w = arbitrary_weights.random_weights(seed=5)
    arbitrary._device_params(w, "predictor")  # pylint: disable=protected-access
    return w

  def training_programs():
    w = weights_lib.random_weights(seed=6, widths=TINY_WIDTHS)
    config = training.TrainConfig(net=transformer.ImageTransformConfig(widths=(4, 6, 8),
                                                                       num_residual=1))
    first = training._compiled(config, w, "xla", "float32")  # pylint: disable=protected-access
    assert training._compiled(config, w, "xla", "float32") == first  # pylint: disable=protected-access
    return w

  assert _freed(features._VARIABLES, vgg)  # pylint: disable=protected-access
  assert _freed(arbitrary._ON_DEVICE, arbitrary_nets)  # pylint: disable=protected-access
  assert _freed(training._COMPILED, training_programs)  # pylint: disable=protected-access
