"""dcmh-tf: Deep Cross-Modal Hashing (Jiang & Li, CVPR 2017) in Keras 3 / TensorFlow."""

__version__ = "0.1.0"
