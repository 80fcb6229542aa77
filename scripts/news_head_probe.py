"""Which image head lets DCMH's objective learn on fixed ImageNet Lite0 features (news set, validation split).

    python scripts/news_head_probe.py HEAD [field=value ...]
    HEAD: lin (hash layer on the pooled features), linstd (on z-scored ones), bn (BatchNorm, hash), mlp (the
    wiki preset's MLP: z-score, 4096 ReLU, hash), mlprawN (N-wide ReLU layer on raw features), bnmlpN (BatchNorm,
    N-wide ReLU, hash: what --image-hidden N builds), stdmlpN (z-score, N ReLU, hash)

The features file is `dcmh-tf datasets features COLLECTION.mat --backbone efficientnet-lite0 -o /tmp/news/news-lite0.npz`;
the run is the `wiki` preset (16 bits, 15 epochs unless epochs=N) with 339 validation queries carved from the
database; prints validation MAP I→T / T→I after each epoch. Ad hoc: it decided --image-hidden (docs/training.md).
"""
import os, sys, numpy as np, keras, time
from dcmh_tf.config import resolve_config
from dcmh_tf.data.loading import load_dataset
from dcmh_tf.training.trainer import DcmhTrainer
from dcmh_tf.models import make_encoders, adapt_standardization
from dcmh_tf.models.layers import FeatureStandardization
from dcmh_tf.evaluation.scoring import evaluate_encoders
from dcmh_tf.data.loading import make_split
mode = sys.argv[1]
extra = dict(a.split("=") for a in sys.argv[2:])
extra = {k: (float(v) if "." in v or "e" in v else int(v)) for k, v in extra.items()}
config = resolve_config("wiki", data_path=os.environ.get("NEWS_LITE0", "/tmp/news/news-lite0.npz"), bits=16, epochs=extra.pop("epochs", 15), eval_every=1, n_validation=339, **extra)
data = load_dataset(config)
split = make_split(config, data)
keras.utils.set_random_seed(0)
image, text = make_encoders(config, data.image_dim, data.text_dim)
if mode != "mlp":
    inp = keras.Input((1280,), name="image")
    x = FeatureStandardization(1280, name="std")(inp) if mode == "linstd" else inp
    if mode.startswith("bnmlp"):
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Dense(int(mode[5:] or 4096), activation="relu")(x)
    if mode.startswith("stdmlp"):
        x = FeatureStandardization(1280, name="std")(x)
        x = keras.layers.Dense(int(mode[6:] or 4096), activation="relu")(x)
    if mode.startswith("mlpraw"):
        x = keras.layers.Dense(int(mode[6:] or 4096), activation="relu")(x)
    if mode == "bn":
        x = keras.layers.BatchNormalization()(x)
    image = keras.Model(inp, keras.layers.Dense(16, name="hash")(x))
adapt_standardization(image, data.images, split.train); adapt_standardization(text, data.texts, split.train)
trainer = DcmhTrainer(config, data, split, image, text)
val = split.validation_protocol()
for epoch in range(config.epochs):
    t = time.time(); trainer.train_epoch(epoch, progress=False)
    m = evaluate_encoders(image, text, data, val, 256)
    print(mode, epoch + 1, round(m["map_i2t"], 4), round(m["map_t2i"], 4), round(time.time() - t, 1), flush=True)
