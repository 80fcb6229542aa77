"""`python -m dcmh_tf.cli`: the `dcmh-tf` command."""

from dcmh_tf.cli import main

main(prog_name="dcmh-tf")
