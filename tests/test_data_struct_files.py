"""Feature files as the field writes them: MATLAB structs (v5 and v7.3), one item per column, sparse
matrices, split indices kept in the file; their bad cases; a bounded fuzz of the readers."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmh_tf.cli import main
from dcmh_tf.data.features import read_features
from dcmh_tf.data.matfile import MAT_V73_USERBLOCK, open_array_file, tag_matlab_class, write_mat_v73_header
from dcmh_tf.errors import DataError

N, N_TRAIN, IMAGE_DIM, TEXT_DIM, CLASSES = 60, 44, 12, 9, 4


def pairs(seed=0):
    """Items in rows: images (N, 12), texts (N, 9) tied to one of 4 classes, one-hot labels, a split."""
    rng = np.random.default_rng(seed)
    classes = np.arange(N) % CLASSES
    images = rng.normal(size=(N, IMAGE_DIM)) + 2.0 * np.eye(CLASSES, IMAGE_DIM)[classes]
    texts = rng.random((N, TEXT_DIM)) + np.eye(CLASSES, TEXT_DIM)[classes]
    labels = np.eye(CLASSES, dtype=np.uint8)[classes]
    order = rng.permutation(N)
    return images, texts, labels, np.sort(order[:N_TRAIN]), np.sort(order[N_TRAIN:])


def write_struct_v5(path, images, texts, labels, train, query):
    """As MATLAB code saves them: one struct `data`, items per column, sparse labels, a 1-based split struct."""
    data = {"X1": images.T, "X2": texts.T, "gt": scipy.sparse.csc_matrix(labels.astype(float)),
            "split": {"ind_train": (train + 1).reshape(-1, 1).astype(float),
                      "ind_test": (query + 1).reshape(-1, 1).astype(float)}}
    scipy.io.savemat(path, {"data": data})


def write_struct_v73(path, images, texts, labels, train, query):
    """The same struct in a MATLAB v7.3 file: groups for structs, data/ir/jc for the sparse labels."""
    with h5py.File(path, "w", userblock_size=MAT_V73_USERBLOCK) as f:
        data = f.create_group("data")
        data.attrs["MATLAB_class"] = np.bytes_("struct")
        for name, value in (("X1", images.T), ("X2", texts.T)):  # MATLAB (d, N) is stored as (N, d)
            tag_matlab_class(data.create_dataset(name, data=value.T), value.dtype)
        sparse = scipy.sparse.csc_matrix(labels.astype(float))  # MATLAB (N, L), compressed columns
        group = data.create_group("gt")
        group.attrs["MATLAB_class"] = np.bytes_("double")
        group.attrs["MATLAB_sparse"] = np.uint64(labels.shape[0])
        group.create_dataset("data", data=sparse.data)
        group.create_dataset("ir", data=sparse.indices.astype(np.uint64))
        group.create_dataset("jc", data=sparse.indptr.astype(np.uint64))
        split = data.create_group("split")
        split.attrs["MATLAB_class"] = np.bytes_("struct")
        for name, value in (("ind_train", train + 1), ("ind_test", query + 1)):
            split.create_dataset(name, data=value.reshape(1, -1).astype(float))  # MATLAB column vector
    write_mat_v73_header(path)


def write_flat(path, images, texts, labels, train, query):
    np.savez(path, I_tr=images[train], T_tr=texts[train], L_tr=labels[train],
             I_te=images[query], T_te=texts[query], L_te=labels[query])


STRUCT_KEYS = {"images": "data.X1", "texts": "data.X2", "labels": "data.gt"}


@pytest.mark.parametrize("writer", [write_struct_v5, write_struct_v73], ids=["v5", "v7.3"])
def test_struct_fields_items_per_column_sparse_labels_and_a_1_based_split_are_read(tmp_path, writer):
    images, texts, labels, train, query = pairs()
    path = tmp_path / "struct.mat"
    writer(path, images, texts, labels, train, query)
    data = read_features(path, keys={**STRUCT_KEYS, "train": "data.split.ind_train", "query": "data.split.ind_test"})
    np.testing.assert_allclose(data.images, images.astype(np.float32))
    np.testing.assert_allclose(data.texts, texts.astype(np.float32))
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(data.file_split.train, train)
    np.testing.assert_array_equal(data.file_split.database, train)
    np.testing.assert_array_equal(data.file_split.query, query)
    # the split is found without naming it (ind_train / ind_test), and fields by their last name
    detected = read_features(path, keys={"images": "X1", "texts": "X2", "labels": "gt"})
    np.testing.assert_array_equal(detected.file_split.query, query)


def test_a_struct_file_trains_to_the_same_map_as_the_flat_file(tmp_path):
    images, texts, labels, train, query = pairs(1)
    write_struct_v5(tmp_path / "struct.mat", images, texts, labels, train, query)
    write_flat(tmp_path / "flat.npz", images, texts, labels, train, query)
    common = ["fit", "--dataset", "features", "--bits", "8", "--epochs", "2", "--hidden", "16", "--batch-size", "11",
              "--seed", "0", "--no-progress"]
    maps = []
    for name, extra in (("flat.npz", []), ("struct.mat", ["--images-key", "data.X1", "--texts-key", "data.X2",
                                                          "--labels-key", "data.gt",
                                                          "--train-key", "data.split.ind_train",
                                                          "--query-key", "data.split.ind_test"])):
        output = tmp_path / f"run-{name}"
        result = CliRunner().invoke(main, [*common, "--data-path", str(tmp_path / name), *extra, "-o", str(output)])
        assert result.exit_code == 0, result.output
        metrics = json.loads((output / "metrics.json").read_text())
        maps.append((metrics["map_i2t"], metrics["map_t2i"]))
    assert maps[0][0] > 0.3  # it learned something (4 balanced classes: chance is about 0.25)
    np.testing.assert_allclose(maps[1], maps[0], atol=1e-6)


def test_items_orientation_can_be_named(tmp_path):
    images, texts, labels, *_ = pairs()
    square = np.zeros((N, N))  # a square text matrix cannot tell its orientation: rows are kept
    np.savez(tmp_path / "f.npz", I=images.T, T=texts.T, L=labels.T)
    assert read_features(tmp_path / "f.npz").images.shape == (N, IMAGE_DIM)  # detected
    assert read_features(tmp_path / "f.npz", keys={"orientation": "columns"}).texts.shape == (N, TEXT_DIM)
    np.savez(tmp_path / "s.npz", I=images, T=square, L=labels)
    assert read_features(tmp_path / "s.npz").texts.shape == (N, N)


def test_datasets_info_lists_struct_fields_and_the_split_it_would_use(tmp_path):
    images, texts, labels, train, query = pairs()
    path = tmp_path / "struct.mat"
    write_struct_v73(path, images, texts, labels, train, query)
    result = CliRunner().invoke(main, ["datasets", "info", str(path), "--images-key", "data.X1",
                                       "--texts-key", "data.X2", "--labels-key", "data.gt"])
    assert result.exit_code == 0, result.output
    for text in ("data.X1", "data.split.ind_train", "data.gt", f"split (file)     {len(query)} queries",
                 "split indices    data.split.ind_train (train), data.split.ind_test (query)"):
        assert text in result.output


def test_category_names_beside_the_file_name_the_labels(tmp_path):
    images, texts, labels, train, query = pairs()
    write_flat(tmp_path / "wiki.npz", images, texts, labels, train, query)
    (tmp_path / "categories.list").write_text("art\nbiology\ngeography\nhistory\n")
    assert read_features(tmp_path / "wiki.npz").label_names == ["art", "biology", "geography", "history"]


# bad inputs: each a clear DataError naming the file and the fix ---------------------------------

def bad_case(name, tmp_path):
    images, texts, labels, train, query = pairs()
    path = tmp_path / "bad.npz"
    keys = {}
    if name == "train and test widths differ":
        np.savez(path, I_tr=images[train], T_tr=texts[train], L_tr=labels[train],
                 I_te=images[query, :5], T_te=texts[query], L_te=labels[query])
    elif name == "no labelled item":
        np.savez(path, I=images, T=texts, L=np.zeros_like(labels))
    elif name == "an unknown struct field":
        path = tmp_path / "bad.mat"
        write_struct_v5(path, images, texts, labels, train, query)
        keys = {**STRUCT_KEYS, "images": "data.X9"}
    elif name in ("split index outside the items", "split overlaps", "one split key"):
        path = tmp_path / "bad.mat"
        write_struct_v5(path, images, texts, labels, train, query)
        keys = {**STRUCT_KEYS, "train": "data.split.ind_train", "query": "data.split.ind_test"}
        if name == "one split key":  # the file keeps training indices only, and no query key is named
            keys["query"] = None
            data = scipy.io.loadmat(path, simplify_cells=True)["data"]
            data["split"] = {"ind_train": data["split"]["ind_train"]}
            scipy.io.savemat(path, {"data": data})
        if name == "split overlaps":
            keys["query"] = "data.split.ind_train"
        if name == "split index outside the items":
            data = scipy.io.loadmat(path, simplify_cells=True)["data"]
            data["split"]["ind_test"] = np.append(data["split"]["ind_test"], N + 5)
            scipy.io.savemat(path, {"data": data})
    return path, keys


@pytest.mark.parametrize("name, message", [
    ("train and test widths differ", "I_tr and I_te must have the same width"),
    ("no labelled item", "none of the 60 items has a label"),
    ("an unknown struct field", "no array matches --images-key 'data.X9'.*data.split.ind_train"),
    ("split index outside the items", "query index 65 is outside the 60 items"),
    ("split overlaps", "the same items are in the training and the query indices"),
    ("one split key", "give both --train-key and --query-key"),
])
def test_bad_feature_files_are_refused_with_a_message(tmp_path, name, message):
    path, keys = bad_case(name, tmp_path)
    with pytest.raises(DataError, match=message) as caught:
        read_features(path, keys=keys)
    assert str(path) in str(caught.value)
    if name == "an unknown struct field":  # the advice the user already followed is not repeated
        assert "Name them with --images-key" not in str(caught.value)


def test_a_bad_file_is_exit_1_from_the_command_line(tmp_path):
    path, _ = bad_case("no labelled item", tmp_path)
    result = CliRunner().invoke(main, ["fit", "--dataset", "features", "--data-path", str(path), "--epochs", "1"])
    assert result.exit_code == 1 and "none of the 60 items has a label" in result.output
    assert "Traceback" not in result.output


# fuzz ---------------------------------------------------------------------------------------------

def valid_files(tmp_path):
    images, texts, labels, train, query = pairs()
    files = {}
    for name, writer in (("v5.mat", write_struct_v5), ("v73.mat", write_struct_v73), ("flat.npz", write_flat)):
        writer(tmp_path / name, images, texts, labels, train, query)
        files[name] = (tmp_path / name).read_bytes()
    return files


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_damaged_files_give_a_data_error_or_a_correct_result(tmp_path, data):
    """150 seeded cases: a valid v5, v7.3 or .npz file with bytes overwritten, cut short, or both."""
    files = getattr(test_fuzz_damaged_files_give_a_data_error_or_a_correct_result, "files", None)
    if files is None:
        files = valid_files(tmp_path)
        test_fuzz_damaged_files_give_a_data_error_or_a_correct_result.files = files
    name = data.draw(st.sampled_from(sorted(files)))
    content = bytearray(files[name])
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(0, len(content) - 1))
        content[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        content = content[:data.draw(st.integers(0, len(content)))]
    path = tmp_path / f"fuzzed-{name}"
    path.write_bytes(bytes(content))
    keys = STRUCT_KEYS if name != "flat.npz" else {}
    try:
        result = read_features(path, keys=keys)
    except DataError:
        return
    # a file that still reads must give pairs of the right shape with finite values
    assert result.images.shape[1] == IMAGE_DIM and result.texts.shape[1] == TEXT_DIM
    assert len(result.images) == len(result.texts) == len(result.labels)
    assert np.isfinite(result.images).all() and np.isfinite(result.texts).all()


def test_open_array_file_lists_struct_fields_in_v5_and_v73(tmp_path):
    images, texts, labels, train, query = pairs()
    write_struct_v5(tmp_path / "a.mat", images, texts, labels, train, query)
    write_struct_v73(tmp_path / "b.mat", images, texts, labels, train, query)
    for name in ("a.mat", "b.mat"):
        with open_array_file(tmp_path / name) as file:
            assert sorted(file.keys()) == ["data.X1", "data.X2", "data.gt", "data.split.ind_test", "data.split.ind_train"]
            assert file.shape("data.gt") == (N, CLASSES)
            np.testing.assert_array_equal(file.read("data.gt"), labels)
