"""Writes ``musicnn_reference.npz``: log-mel patches and what the original musicnn (under TensorFlow)
outputs for them, so ``tests/test_musicnn.py`` can prove the PyTorch port equivalent. Run once, in two
steps, the second in a throwaway venv outside the project (TensorFlow is never a project dependency):

    .venv/bin/python tests/data/make_musicnn_reference.py inputs /tmp/musicnn_inputs.npz
    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow tf_keras numpy \\
        && /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python tests/data/make_musicnn_reference.py tensorflow \\
        /tmp/musicnn_inputs.npz tests/data/musicnn_reference.npz

(musicnn's model code uses ``tf.compat.v1.layers``, which TensorFlow 2.16+ has only with ``tf_keras``
and ``TF_USE_LEGACY_KERAS=1``; the reference was made with TensorFlow 2.21.0.)

Inputs: two random patches (one with values above what the package's float16 front end can reach) and
four patches of generated music (demo styles rock and ambient) through synesthete's float32 front end.
They are stored as float16 (to stay small) and fed to TensorFlow as exactly those values in float32.
"""

from __future__ import annotations

import sys

import numpy as np


def make_inputs(out: str) -> None:
    import soxr
    import torch

    from synesthete.demo import SR, render_piece
    from synesthete.models.musicnn import N_MELS, PATCH, LogMel, patches

    rng = np.random.default_rng(3)
    random = [rng.uniform(0.0, 4.0, (PATCH, N_MELS)), rng.uniform(0.0, 7.5, (PATCH, N_MELS))]
    music = []
    for style, n in (("rock", 3), ("ambient pad", 1)):
        y = soxr.resample(render_piece(style, 0), SR, 16000)
        music.extend(patches(LogMel()(torch.from_numpy(y)))[1 : 1 + n].numpy())
    x = np.stack(random + music).astype(np.float16)
    np.savez(out, x=x)
    print(f"{out}: {x.shape}, range {x.min():.2f}..{x.max():.2f}")


def run_tensorflow(inputs: str, out: str) -> None:
    import os

    import tensorflow as tf
    from musicnn import configuration, models

    tf.compat.v1.disable_eager_execution()
    x_in = np.load(inputs)["x"].astype(np.float32)
    x = tf.compat.v1.placeholder(tf.float32, [None, *x_in.shape[1:]])
    is_training = tf.compat.v1.placeholder(tf.bool)
    with tf.name_scope("model"):
        outputs = models.define_model(x, is_training, "MSD_musicnn", len(configuration.MSD_LABELS))
    logits, penultimate = outputs[0], outputs[-1]
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, os.path.dirname(models.__file__) + "/MSD_musicnn/")
        pen, tags = sess.run([penultimate, tf.nn.sigmoid(logits)], {x: x_in, is_training: False})
    np.savez_compressed(
        out,
        x=x_in.astype(np.float16),
        penultimate=pen.astype(np.float32),
        tags=tags.astype(np.float32),
        tensorflow=np.array(tf.__version__),
    )
    print(f"{out}: penultimate {pen.shape} (max {np.abs(pen).max():.3f}), tags {tags.shape}")


if __name__ == "__main__":
    step, *paths = sys.argv[1:]
    make_inputs(*paths) if step == "inputs" else run_tensorflow(*paths)
