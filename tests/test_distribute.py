"""tf.distribute: two workers on localhost keep identical buffers and end with a single worker's B."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dcmh_tf.errors import ConfigError
from dcmh_tf.training.trainer import fit

TINY = dict(bits=8, hidden=32, epochs=2, batch_size=8, n_query=8, n_train=16, lr=1e-3, lr_end=1e-4, seed=3, jit=False)
WORKER = textwrap.dedent("""
    import sys
    from dcmh_tf.config import resolve_config
    from dcmh_tf.training.trainer import fit
    config = resolve_config("demo", strategy="multiworker", **{tiny!r})
    fit(config, sys.argv[1], progress=False, echo=lambda message: print(message, flush=True))
""")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def read_state(run) -> dict[str, np.ndarray]:
    with np.load(run / "checkpoint" / "state.npz") as state:
        return {key: state[key] for key in ("F", "G", "B", "epochs_done")}


def test_two_workers_on_localhost_keep_identical_buffers_equal_to_one_worker(tmp_path):
    cluster = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}),
                   CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
        log = open(tmp_path / f"worker{index}.log", "w")
        workers.append((subprocess.Popen([sys.executable, "-c", WORKER.format(tiny=TINY), str(tmp_path / f"worker{index}")],
                                         env=env, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        # the single-worker run on the same batches, meanwhile
        from dcmh_tf.config import resolve_config

        fit(resolve_config("demo", **TINY), tmp_path / "single", progress=False, echo=lambda message: None)
        for process, _ in workers:
            process.wait(timeout=240)
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
            log.close()
    logs = [(tmp_path / f"worker{index}.log").read_text() for index in range(2)]
    for index, log in enumerate(logs):
        assert "MultiWorkerMirroredStrategy" in log or "CollectiveAllReduceStrategy" in log, log[-3000:]
        assert "2 replicas in sync" in log and "epoch 2/2" in log, log[-3000:]
    states = [read_state(tmp_path / f"worker{index}") for index in range(2)]
    single = read_state(tmp_path / "single")
    assert int(states[0]["epochs_done"]) == int(states[1]["epochs_done"]) == 2
    for key in ("F", "G", "B"):  # every worker wrote every batch's gathered outputs: bit for bit the same
        np.testing.assert_array_equal(states[0][key], states[1][key])
    # the replicas' summed gradients are the single worker's up to float rounding
    np.testing.assert_allclose(states[0]["F"], single["F"], atol=1e-4)
    np.testing.assert_allclose(states[0]["G"], single["G"], atol=1e-4)
    clear = np.abs(single["F"] + single["G"]) > 1e-3  # a sign can only differ where F + G is ~0
    np.testing.assert_array_equal(states[0]["B"][clear], single["B"][clear])
    assert clear.mean() > 0.95


def test_jit_needs_the_default_strategy(tiny_config):
    with pytest.raises(ConfigError, match=r"jit \(XLA\) works with strategy 'default' only, received strategy 'mirrored'"):
        tiny_config.replace(strategy="mirrored", jit=True)
    with pytest.raises(ConfigError, match="strategy must be one of default, mirrored, multiworker; received 'tpu'"):
        tiny_config.replace(strategy="tpu", jit=False)


def test_mirrored_strategy_on_one_device_trains_like_the_default(tiny_config):
    from dcmh_tf.training.distribute import make_strategy

    config = tiny_config.replace(jit=False, epochs=1)
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 1  # no GPU here: the strategy's code path on one device
    mirrored, default = train_epochs(config, strategy), train_epochs(config)
    for phase in ("image", "text"):
        np.testing.assert_allclose(mirrored.buffers[phase].numpy(), default.buffers[phase].numpy(), atol=1e-5)
    np.testing.assert_array_equal(mirrored.codes.numpy(), default.codes.numpy())


TWO_REPLICAS = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    # two logical CPU devices, set before any other TensorFlow work: two replicas on a machine without a GPU
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dcmh_tf.config import resolve_config
    sys.path.insert(0, sys.argv[2])
    from test_distribute import train_epochs

    config = resolve_config("demo", **{tiny!r})
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    states = {{}}
    for name, chosen in (("mirrored", strategy), ("default", None)):
        trainer = train_epochs(config, chosen)
        states.update({{f"{{name}}/F": trainer.buffers["image"].numpy(), f"{{name}}/G": trainer.buffers["text"].numpy(),
                       f"{{name}}/B": trainer.codes.numpy()}})
    np.savez(sys.argv[1], replicas=strategy.num_replicas_in_sync, **states)
""")


def train_epochs(config, strategy=None):
    """A trainer after config.epochs epochs on the run's split, under `strategy` (None: one device)."""
    import keras

    from dcmh_tf.data.loading import load_dataset, make_split
    from dcmh_tf.models import make_encoders
    from dcmh_tf.training.trainer import DcmhTrainer

    data = load_dataset(config)
    split = make_split(config, data)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        trainer = DcmhTrainer(config, data, split, *make_encoders(config, data.image_dim, data.text_dim), strategy)
    for epoch in range(config.epochs):
        trainer.train_epoch(epoch, progress=False)
    return trainer


def test_mirrored_strategy_on_two_logical_cpus_trains_like_one_device(tmp_path):
    """Two replicas, each computing half of every batch; 17 training pairs in batches of 8, so the last
    batch of one pair leaves the second replica nothing to do. Same F and G up to float rounding, same B."""
    tiny = dict(TINY, n_train=17)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", TWO_REPLICAS.format(tiny=tiny), str(tmp_path / "states.npz"),
                             os.path.dirname(__file__)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(tmp_path / "states.npz") as states:
        assert int(states["replicas"]) == 2
        np.testing.assert_allclose(states["mirrored/F"], states["default/F"], atol=1e-4)
        np.testing.assert_allclose(states["mirrored/G"], states["default/G"], atol=1e-4)
        assert not np.array_equal(states["mirrored/F"], np.zeros_like(states["mirrored/F"]))
        np.testing.assert_array_equal(states["mirrored/B"], states["default/B"])
