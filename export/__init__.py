"""Export of trained encoders for serving (installed as `dcmh_tf.export`).

`export_run` writes a run's encoders, with heads that give `features`, `codes` (±1 int8) and
`packed` (uint8, numpy.packbits layout), as SavedModels in TF Serving's layout and / or ONNX files,
then checks them against Keras.
"""

from dcmh_tf.export.exporter import FORMATS, ExportError, ExportResult, export_run
from dcmh_tf.export.heads import PackBits, SignCodes, attach_heads, quantize

__all__ = ["FORMATS", "ExportError", "ExportResult", "export_run", "PackBits", "SignCodes", "attach_heads", "quantize"]
