"""The restricted reader of PyTorch's legacy format: real files read, crafted and damaged ones refused."""

import io
import os
import pickle
import struct

import numpy as np
import pytest

from dcmh_tf.errors import DcmhError
from dcmh_tf.models.efficientnet.torch_file import (
    MAGIC_NUMBER,
    PROTOCOL_VERSION,
    UnsafeWeightFileError,
    WeightFileError,
    read_state_dict,
)

SYS_INFO = {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}


def _global_opcode(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def legacy_file(tensors: dict[str, np.ndarray], main_pickle: bytes | None = None) -> bytes:
    """A legacy-format file written by hand with raw pickle opcodes, as torch.save would write it."""
    out = io.BytesIO()
    for value in (MAGIC_NUMBER, PROTOCOL_VERSION, SYS_INFO):
        pickle.dump(value, out, protocol=2)
    keys = [str(100 + i) for i in range(len(tensors))]
    if main_pickle is None:
        body = b"\x80\x02" + _global_opcode("collections", "OrderedDict") + b")R"  # OrderedDict()
        for key, (name, array) in zip(keys, tensors.items()):
            # name, _rebuild_tensor_v2((persid, offset, size, stride, requires_grad, hooks))
            body += pickle.dumps(name, protocol=2)[2:-1]
            body += _global_opcode("torch._utils", "_rebuild_tensor_v2")
            body += b"("  # MARK for the argument tuple
            body += b"(" + pickle.dumps("storage", protocol=2)[2:-1] + _global_opcode("torch", "FloatStorage")
            body += pickle.dumps(key, protocol=2)[2:-1] + pickle.dumps("cpu", protocol=2)[2:-1]
            body += pickle.dumps(int(array.size), protocol=2)[2:-1] + b"tQ"  # TUPLE, BINPERSID
            strides = tuple(int(np.prod(array.shape[i + 1:])) for i in range(array.ndim))
            for value in (0, tuple(array.shape), strides, False):
                body += pickle.dumps(value, protocol=2)[2:-1]
            body += _global_opcode("collections", "OrderedDict") + b")R"  # backward hooks
            body += b"tR" + b"s"  # TUPLE, REDUCE, SETITEM
        body += b"."
        main_pickle = body
    out.write(main_pickle)
    pickle.dump(keys, out, protocol=2)
    for key, array in zip(keys, tensors.values()):
        out.write(struct.pack("<q", array.size))
        out.write(np.ascontiguousarray(array, "<f4").tobytes())
    return out.getvalue()


@pytest.fixture
def tensors():
    rng = np.random.default_rng(0)
    return {"a.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
            "a.bias": rng.standard_normal(4).astype(np.float32)}


def test_a_hand_written_legacy_file_reads_back_exactly(tmp_path, tensors):
    path = tmp_path / "ok.pth"
    path.write_bytes(legacy_file(tensors))
    state = read_state_dict(path)
    assert list(state) == list(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(state[name], array)


class _RunsCode:
    """Unpickling this with pickle.load would call os.system; never loaded here except by the reader."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/dcmh-should-not-exist",))


def test_a_file_whose_unpickling_would_run_code_is_refused(tmp_path, tensors):
    crafted = pickle.dumps({"a.weight": _RunsCode()}, protocol=2)  # only built, never loaded by pickle
    assert b"system" in crafted
    path = tmp_path / "evil.pth"
    path.write_bytes(legacy_file(tensors, main_pickle=crafted))
    marker = "/tmp/dcmh-should-not-exist"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(UnsafeWeightFileError) as error:
        read_state_dict(path)
    message = str(error.value)
    assert isinstance(error.value, DcmhError)
    assert str(path) in message and "refused to unpickle" in message and "system" in message
    assert not os.path.exists(marker)


def test_a_code_running_magic_number_is_refused_before_the_main_pickle(tmp_path):
    path = tmp_path / "evil-header.pth"
    path.write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    with pytest.raises(UnsafeWeightFileError, match="magic number"):
        read_state_dict(path)


def test_a_builtins_eval_global_is_refused(tmp_path, tensors):
    crafted = b"\x80\x02" + _global_opcode("builtins", "eval") + b"(X\x04\x00\x00\x001+1tR."
    path = tmp_path / "eval.pth"
    path.write_bytes(legacy_file(tensors, main_pickle=crafted))
    with pytest.raises(UnsafeWeightFileError, match="builtins.eval"):
        read_state_dict(path)


@pytest.mark.parametrize("cut", [10, 200, -7])
def test_a_truncated_file_names_the_file(tmp_path, tensors, cut):
    data = legacy_file(tensors)
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:cut])
    with pytest.raises(WeightFileError) as error:
        read_state_dict(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_zip_format_file_says_which_format_is_expected(tmp_path):
    path = tmp_path / "new.pth"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(WeightFileError, match="legacy .non-zip. format, received a zip archive"):
        read_state_dict(path)


def test_random_bytes_are_not_a_weight_file(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(WeightFileError, match=str(path)):
        read_state_dict(path)
