"""The one place tfbert imports Keras: Keras 2 (`tf_keras`), which transformers' TF models need."""

import tf_keras as keras

import tfbert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

__all__ = ["keras"]
