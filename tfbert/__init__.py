"""tfbert: fine-tune BERT-family checkpoints into TensorFlow text classifiers and serve them.

The training spine sits here: config -> tables/sources/labels -> data -> features -> model ->
train (fit + callbacks) -> evaluate -> predict. Around it, one subpackage per system, imports
running one way: cli -> labelling -> serving -> the spine -> tasks -> tokenizers and scoring ->
base.
"""

import os

# transformers' TF models need Keras 2. TensorFlow picks Keras 2 for `tf.keras` only if
# this is set before TensorFlow is first imported, so it is set before anything else.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
USER_SET_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ  # `-v` leaves a user's choice alone
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
