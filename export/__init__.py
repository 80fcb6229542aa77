"""Export of trained encoders for serving (installed as `dcmh_tf.export`)."""
