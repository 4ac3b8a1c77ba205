"""Where training runs."""
import torch


def pick_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when present, else the CPU; anything else is passed to torch as is."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
