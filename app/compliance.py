"""What compliance means, in one place: a photo's summary, a tracked person's label, and a window of people's
counts. Uploads, cameras, alerts and the page all read it from here."""
from models.labels import CLASSES

LABELS = (*CLASSES, "uncertain")  # what a counted person is


def photo_summary(faces: list, uncertain_below: float) -> dict:
    """Faces by label, those whose label confidence is under `uncertain_below`, and `compliant`: every face
    with_mask and none uncertain."""
    counts = {c: sum(f.label == c for f in faces) for c in CLASSES}
    uncertain = sum(f.confidence < uncertain_below for f in faces)
    return {"faces": len(faces), **counts, "uncertain": uncertain,
            "compliant": counts["with_mask"] == len(faces) and uncertain == 0}


def person_label(votes: dict[str, float], vote_share: float) -> str:
    """A tracked person's label: the top of their frames' confidence-weighted votes, `uncertain` when it has less
    than `vote_share` of them."""
    top = max(votes, key=votes.get)
    return top if votes[top] >= vote_share * sum(votes.values()) else "uncertain"


def window_summary(counts: dict[str, int]) -> dict:
    """People by label plus `people` and `compliance`: the share of people with a label who wear a mask (None if none)."""
    people = sum(counts[label] for label in LABELS)
    labelled = people - counts["uncertain"]
    return {**counts, "people": people, "compliance": round(counts["with_mask"] / labelled, 4) if labelled else None}


def no_people() -> dict[str, int]:
    return dict.fromkeys(LABELS, 0)
