"""Convert MatConvNet's imagenet-vgg-f.mat (CNN-F on ImageNet) into a small .npz for `dcmh-tf fit --pretrained`.

The .mat may be in either layout found in the wild (old: `layers` + `normalization`; newer:
`layers` + `meta`), saved as MATLAB v5 or v7.3. The file is checked by loading it into the paper's
CNN-F (224×224 input, 4096-wide full6/full7); a file that does not fit is refused with the layer and
both shapes. The .npz holds conv1–fc8 filters and biases, the LRN parameters and the mean image, in
MatConvNet's order (which is Keras' HWIO), and reads back without scipy. Nothing is downloaded: get the
.mat from the MatConvNet model zoo yourself.

    python scripts/convert_vggf.py imagenet-vgg-f.mat                 # writes imagenet-vgg-f.npz
    python scripts/convert_vggf.py imagenet-vgg-f.mat -o vggf.npz
    dcmh-tf fit --preset paper --pretrained vggf.npz ...
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mat", type=Path, help="MatConvNet's imagenet-vgg-f.mat")
    parser.add_argument("-o", "--output", type=Path, default=None, help="the .npz to write [default: beside the .mat]")
    parser.add_argument("--image-size", type=int, default=224, help="CNN-F input size to check against")
    parser.add_argument("--hidden", type=int, default=4096, help="full6/full7 width to check against")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_arguments(argv)
    from dcmh_tf.errors import DcmhError
    from dcmh_tf.models.cnnf import load_matconvnet_weights, make_cnnf
    from dcmh_tf.models.matconvnet import read_weight_file, save_converted

    output = args.output or args.mat.with_suffix(".npz")
    try:
        weights = read_weight_file(args.mat)
        notes = load_matconvnet_weights(make_cnnf(bits=16, image_size=args.image_size, hidden=args.hidden), args.mat)
    except DcmhError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    save_converted(weights, output)
    print("\n".join(notes))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
