"""Training on several devices or machines with tf.distribute (`--strategy mirrored|multiworker`).

Every worker runs the same loop on the same global batches (same seed, same shuffled order); each
replica computes the forward and backward pass of its share of the batch. The F, G and B buffers
must stay identical everywhere, so each step gathers the batch's outputs from all replicas (an
all-reduce of the zero-padded shares, which is exact) and every worker writes the whole batch into
its buffers, in the order of the batch's positions. The replicas' gradients are summed by the
optimizer; each replica scales its loss by the whole batch's size and sees the whole batch's
column sum in the balance term (the other replicas' part without gradient), so the sum of the
replicas' gradients is the gradient of the undistributed step, up to float rounding.

Each worker reads the whole global batch (the pipeline is not sharded): reading pixels is cheap
next to CNN-F's passes, and it keeps flips and order identical to a single-worker run.
`multiworker` takes the cluster from the `TF_CONFIG` environment variable and must be created before
any other TensorFlow work in the process; each worker writes its own run directory (the same run).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from dcmh_tf.config import STRATEGIES
from dcmh_tf.errors import ConfigError
from dcmh_tf.training.losses import dcmh_batch_loss, label_similarity


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy named `name` (one of STRATEGIES)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" in os.environ:
            try:
                json.loads(os.environ["TF_CONFIG"])
            except json.JSONDecodeError as error:
                raise ConfigError(f"TF_CONFIG is not valid JSON ({error}); expected the cluster and this task.") from None
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:  # "Collective ops must be configured at program startup"
            raise ConfigError(
                f"the multiworker strategy could not start ({error}); it must be created before any other "
                f"TensorFlow work in the process."
            ) from None
    raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}; received {name!r}.")


def make_distributed_step(trainer, strategy: tf.distribute.Strategy, phase: str, other_phase: str):
    """The training step of `phase` for `trainer` (a `DcmhTrainer` built under `strategy.scope()`):
    same arguments and result as the single-device step."""
    encoder = trainer.encoders[phase]
    optimizer = trainer.optimizers[phase]
    own, other = trainer.buffers[phase], trainer.buffers[other_phase]
    variables = encoder.trainable_variables
    config = trainer.config
    labels, codes = trainer.labels, trainer.codes

    def replica_step(positions, inputs):
        inputs = tf.cast(inputs, tf.float32)  # pictures arrive as uint8 (exact as floats)
        context = tf.distribute.get_replica_context()
        replica, replicas = context.replica_id_in_sync_group, context.num_replicas_in_sync
        batch = tf.shape(positions)[0]
        share = (batch + replicas - 1) // replicas
        start = tf.minimum(replica * share, batch)
        stop = tf.minimum(start + share, batch)
        mine = positions[start:stop]
        with tf.GradientTape() as tape:
            # a batch smaller than the replicas leaves some with no rows, and a convolution of an empty
            # batch fails on CPU ("input depth must be evenly divisible by filter depth"): skip the pass there
            outputs = tf.cond(stop > start, lambda: encoder(inputs[start:stop], training=True),
                              lambda: tf.zeros([0, config.bits], tf.float32))  # encoders output float32
            padded = tf.scatter_nd(tf.range(start, stop)[:, None], outputs, [batch, config.bits])
            batch_outputs = tf.stop_gradient(context.all_reduce(tf.distribute.ReduceOp.SUM, padded))
            others = tf.reduce_sum(batch_outputs, axis=0) - tf.stop_gradient(tf.reduce_sum(outputs, axis=0))
            rest_sum = tf.reduce_sum(own, axis=0) - tf.reduce_sum(tf.gather(own, positions), axis=0) + others
            terms = dcmh_batch_loss(
                outputs, other, tf.gather(codes, mine), label_similarity(tf.gather(labels, mine), labels), rest_sum,
                config.gamma, config.eta, config.loss_normalization, batch_size=batch,
            )
            scaled = optimizer.scale_loss(terms["total"])
        gradients = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(gradients, variables))  # sums the replicas' gradients
        return batch_outputs, terms

    @tf.function(reduce_retracing=True)
    def step(positions, inputs):
        batch_outputs, terms = strategy.run(replica_step, args=(positions, inputs))
        outputs = strategy.experimental_local_results(batch_outputs)[0]
        own.assign(tf.tensor_scatter_nd_update(own, positions[:, None], outputs))
        total = {name: strategy.reduce(tf.distribute.ReduceOp.SUM, terms[name], axis=None)
                 for name in ("pairwise", "quantization")}
        # every replica computed the same balance term of the whole batch
        total["balance"] = strategy.reduce(tf.distribute.ReduceOp.MEAN, terms["balance"], axis=None)
        total["total"] = total["pairwise"] + total["quantization"] + total["balance"]
        return total

    return step
