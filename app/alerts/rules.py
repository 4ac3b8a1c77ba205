"""The alert rules a camera may carry (`alerts:` in the cameras file), and when each is breached."""
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class LowCompliance(BaseModel):
    """Compliance under `below` over the last `window_minutes`, once at least `min_people` were counted."""
    model_config = ConfigDict(extra="forbid")

    rule: Literal["low_compliance"]
    below: float = Field(0.7, gt=0, le=1)
    window_minutes: int = Field(10, ge=1, le=1440)
    min_people: int = Field(5, ge=1)


class CameraDown(BaseModel):
    """The stream has delivered no frame for `after_s` seconds (down, reconnecting, unreachable)."""
    model_config = ConfigDict(extra="forbid")

    rule: Literal["camera_down"]
    after_s: float = Field(120, gt=0)


AlertRule = Annotated[LowCompliance | CameraDown, Field(discriminator="rule")]


def low_compliance_breached(rule: LowCompliance, counts: dict) -> bool:
    """`counts` as `app.compliance.window_summary` gives them for the rule's window."""
    labelled = counts["people"] - counts["uncertain"]
    return labelled >= rule.min_people and counts["compliance"] is not None and counts["compliance"] < rule.below


def camera_down_breached(rule: CameraDown, down_since: float | None, now: float) -> bool:
    return down_since is not None and now - down_since >= rule.after_s
