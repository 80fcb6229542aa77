"""Binary codes: sign quantization, bit packing and Hamming distances by popcount.

A code of c bits is a row of ±1 values. Packed, it is ceil(c/8) bytes, most significant bit first
(`np.packbits` order), bit 1 standing for +1; the unused low bits of the last byte are 0 in every
code, so they never count in a distance. For popcount the bytes are zero-padded to whole 64-bit
words.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from dcmh_tf.errors import DataError


def sign_codes(outputs) -> np.ndarray:
    """±1 codes (int8) of real-valued encoder outputs, sign(0) = +1 (`np.sign` would give 0).

    outputs: (n, c) array-like of floats. Returns (n, c) int8 in {-1, +1}.
    """
    outputs = np.asarray(outputs)
    return np.where(outputs >= 0, 1, -1).astype(np.int8)


def check_codes(codes, name: str = "codes") -> np.ndarray:
    """`codes` as an (n, c) int8 array after checking that it is 2-d, c ≥ 1 and every value is ±1."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] < 1:
        raise DataError(f"{name}: expected a 2-d array (items, bits) with at least one bit, received shape {codes.shape}.")
    valid = (codes == 1) | (codes == -1)
    if not valid.all():
        bad = codes[~valid][:3].tolist()
        raise DataError(
            f"{name}: expected values in {{-1, +1}}, received {bad}...; quantize real-valued outputs with "
            f"dcmh_tf.hashing.sign_codes first."
        )
    return codes.astype(np.int8, copy=False)


def code_bytes(bits: int) -> int:
    """Bytes of one packed code of `bits` bits."""
    return -(-bits // 8)


def pack_codes(codes) -> np.ndarray:
    """(n, ceil(c/8)) uint8: ±1 codes (n, c) packed MSB first, +1 → bit 1, padding bits 0."""
    return np.packbits(check_codes(codes) > 0, axis=1)


def unpack_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """(n, bits) int8 ±1 codes from the (n, ceil(bits/8)) uint8 rows of `pack_codes`."""
    packed = np.asarray(packed)
    if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != code_bytes(bits):
        raise DataError(
            f"packed codes: expected a 2-d uint8 array of {code_bytes(bits)} bytes per row for {bits} bits, "
            f"received {packed.dtype} of shape {packed.shape}."
        )
    bit_values = np.unpackbits(packed, axis=1, count=bits)
    return np.where(bit_values == 1, 1, -1).astype(np.int8)


def to_words(packed: np.ndarray, dtype=np.uint64) -> np.ndarray:
    """(n, ceil(bytes/itemsize)) view of packed rows as unsigned words of `dtype`, zero-padded to
    whole words (for popcount and AND)."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    padding = -packed.shape[1] % np.dtype(dtype).itemsize
    if padding:
        packed = np.pad(packed, ((0, 0), (0, padding)))
    return packed.view(dtype)


def pack_multi_hot(matrix) -> np.ndarray:
    """Words of an (n, L) multi-hot matrix (nonzero = set): (n, 1) uint32 for L ≤ 32 (half the
    memory traffic of 64-bit words), else (n, ceil(L/64)) uint64. Two rows share a label exactly
    when some word of their AND is nonzero."""
    matrix = np.asarray(matrix)
    packed = np.packbits(matrix != 0, axis=1)
    return to_words(packed, np.uint32 if packed.shape[1] <= 4 else np.uint64)


def distance_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype that holds distances 0..bits."""
    return np.dtype(np.uint8) if bits <= np.iinfo(np.uint8).max else np.dtype(np.uint16)


def packed_hamming_distances(query_words: np.ndarray, db_words: np.ndarray, bits: int,
                             out: np.ndarray | None = None) -> np.ndarray:
    """(n_query, n_db) Hamming distances between word-packed codes (`to_words(pack_codes(...))`).

    query_words: (n_query, w) uint64; db_words: (n_db, w) uint64. The result has the dtype of
    `distance_dtype(bits)`, or is written into `out`, an (n_query, n_db) array of a wider unsigned
    dtype. Memory: the result and one uint64 per database item; call it on chunks of queries (see
    `iter_hamming_distances`) to bound the result.
    """
    shape = (len(query_words), len(db_words))
    distances = np.empty(shape, distance_dtype(bits)) if out is None else out
    # One query row at a time: the XOR buffer (8 bytes per database item) stays small and is reused.
    db_columns = [np.ascontiguousarray(db_words[:, word]) for word in range(db_words.shape[1])]
    xor = np.empty(len(db_words), np.uint64)
    for row, query in enumerate(query_words):
        for word, column in enumerate(db_columns):
            np.bitwise_xor(column, query[word], out=xor)
            if word == 0:
                np.bitwise_count(xor, out=distances[row])
            else:
                distances[row] += np.bitwise_count(xor)
    return distances


def iter_hamming_distances(query_words: np.ndarray, db_words: np.ndarray, bits: int,
                           chunk_rows: int) -> Iterator[tuple[slice, np.ndarray]]:
    """(query slice, distances of those queries to the whole database), `chunk_rows` queries at a time."""
    for start in range(0, len(query_words), chunk_rows):
        rows = slice(start, min(start + chunk_rows, len(query_words)))
        yield rows, packed_hamming_distances(query_words[rows], db_words, bits)


# A group of identical codes holding more than this share of the items means the codes have collapsed:
# DCMH gives one code to items of one label set, and no label set of the supported datasets covers half.
COLLAPSE_SHARE = 0.5


def code_spread(codes) -> dict:
    """How spread the codes of a database are: {"items", "distinct", "largest_share"}.

    codes: (n, c) ±1 codes or (n, bytes) packed uint8 rows. "distinct" counts different codes,
    "largest_share" is the share of the items holding the most frequent code (0 for n = 0).
    """
    codes = np.asarray(codes)
    rows = codes if codes.dtype == np.uint8 else np.packbits(codes > 0, axis=1)
    if len(rows) == 0:
        return {"items": 0, "distinct": 0, "largest_share": 0.0}
    _, counts = np.unique(np.ascontiguousarray(rows), axis=0, return_counts=True)
    return {"items": int(len(rows)), "distinct": int(len(counts)), "largest_share": float(counts.max() / len(rows))}


def collapse_warning(spread: dict, query_share: float | None = None, what: str = "database") -> str | None:
    """A one-line warning with the figures when the codes have collapsed, else None.

    spread: `code_spread` of the database codes; query_share: the share of them within Hamming radius 0
    of one query, when there is a query. Collapsed: at most 2 distinct codes among more than 2 items,
    or one code (the largest group, or the query's) shared by more than COLLAPSE_SHARE of the items.
    """
    n, distinct, largest = spread["items"], spread["distinct"], spread["largest_share"]
    if n <= 2:
        return None
    query_many = query_share is not None and query_share > COLLAPSE_SHARE
    if distinct > 2 and largest <= COLLAPSE_SHARE and not query_many:
        return None
    figures = f"{distinct} distinct codes among {n} {what} items, the largest group holds {largest:.1%}"
    if query_share is not None:
        figures += f", {query_share:.1%} lie within radius 0 of the query"
    return (f"the codes have collapsed ({figures}): items with one code cannot be told apart, and their order is "
            f"the index's, not relevance. Train longer or on more data, or start the image net from pretrained "
            f"weights.")
