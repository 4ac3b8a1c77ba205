"""Classification metrics: confusion matrix, per-class accuracy, ACA, calibration error, temperature."""
import numpy as np
import torch

from models.face_sizes import LARGE_FACE_SIDE, SMALL_FACE_SIDE, size_index

NUM_CLASSES = 3


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = NUM_CLASSES) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal over row sums); NaN for a class absent from the data."""
    totals = cm.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / totals, np.nan)


def aca(cm: np.ndarray) -> float:
    """The paper's metric: the mean of the per-class accuracies (classes present in the data)."""
    return float(np.nanmean(per_class_accuracy(cm)))


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-label confidence over equal-width confidence bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (Guo et al., 2017)."""
    x = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(y_true, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def summarize(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Per-class accuracy, ACA, overall accuracy, ECE and the confusion matrix, JSON-ready."""
    cm = confusion_matrix(y_true, probs.argmax(axis=1))
    acc = per_class_accuracy(cm)
    return {
        "n": int(len(y_true)),
        "acc_with_mask": float(acc[0]),
        "acc_without_mask": float(acc[1]),
        "acc_mask_worn_incorrectly": float(acc[2]),
        "aca": aca(cm),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "ece": expected_calibration_error(probs, y_true),
        "confusion_matrix": cm.tolist(),
    }


def per_dataset(y_true: np.ndarray, probs: np.ndarray, datasets: np.ndarray) -> dict[str, dict]:
    """`summarize` of each dataset's faces alone, datasets in the order they first come."""
    return {name: summarize(y_true[datasets == name], probs[datasets == name]) for name in dict.fromkeys(datasets.tolist())}


# a face box's shorter side, binned as the service picks its classifier (models.face_sizes)
SIZE_BINS = (f"under {SMALL_FACE_SIDE} px", f"{SMALL_FACE_SIDE}-{LARGE_FACE_SIDE} px", f"over {LARGE_FACE_SIDE} px")


def size_bin(boxes: np.ndarray) -> np.ndarray:
    """Each box's name in `SIZE_BINS`."""
    return np.array(SIZE_BINS)[size_index(boxes)]


def per_size(y_true: np.ndarray, probs: np.ndarray, boxes: np.ndarray) -> dict[str, dict]:
    """`summarize` of the faces of each size bin alone."""
    bins = size_bin(boxes)
    return {name: summarize(y_true[bins == name], probs[bins == name]) for name in SIZE_BINS}


def fit_logit_bias(logits: np.ndarray, y_true: np.ndarray, prior: np.ndarray, temperature: float = 1.0,
                   taus: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> np.ndarray:
    """Logit adjustment for ACA: bias = -tau * log(prior), tau chosen on validation data by ACA.

    ACA weighs classes equally, so the decision should discount the training prior; a model trained with
    partial class weights has discounted part of it already, and validation data says how much more.
    """
    log_prior = np.log(np.maximum(np.asarray(prior, dtype=float), 1e-6))  # a class absent from training stays finite
    scaled = np.asarray(logits) / temperature
    best_tau = max(taus, key=lambda t: (aca(confusion_matrix(y_true, (scaled - t * log_prior).argmax(1))), -t))
    bias = -best_tau * log_prior
    return bias - bias.mean()


def calibrate(val_logits: np.ndarray, y_val: np.ndarray, train_labels: np.ndarray,
              logit_bias: bool = False) -> tuple[float, np.ndarray]:
    """Temperature (by NLL) and, if asked, a logit bias (by ACA), both fitted on validation data."""
    temperature = fit_temperature(val_logits, y_val)
    if not logit_bias:
        return temperature, np.zeros(NUM_CLASSES)
    prior = np.bincount(train_labels, minlength=NUM_CLASSES) / len(train_labels)
    return temperature, fit_logit_bias(val_logits, y_val, prior, temperature)


def calibrated_probs(logits: np.ndarray, temperature: float = 1.0, bias: np.ndarray | None = None) -> np.ndarray:
    """softmax(logits / temperature + bias), the same formula as `MaskClassifier.predict`."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64) / temperature
    if bias is not None:
        z = z + torch.as_tensor(np.asarray(bias), dtype=torch.float64)
    return z.softmax(1).numpy()
