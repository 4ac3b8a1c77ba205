"""The daily report as a PDF a manager prints: a first page with each camera's compliance as a chart, the day's
table and the alerts; then a page per camera, hour by hour. Drawn with matplotlib (supervision's dependency)."""
import io
from datetime import datetime

from app.compliance import LABELS

A4 = (8.27, 11.69)
SHORT = {"with_mask": "with mask", "without_mask": "without", "mask_worn_incorrectly": "incorrectly", "uncertain": "uncertain"}
MAX_ALERTS = 20  # listed on the first page; the JSON and CSV have them all


def percent(compliance: float | None) -> str:
    return "-" if compliance is None else f"{compliance:.0%}"


def clock(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M")


def render_pdf(report: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    out = io.BytesIO()
    with PdfPages(out, metadata={"Title": f"MaskWatch daily report {report['date']}", "Creator": "MaskWatch"}) as pdf:
        first = Figure(figsize=A4)
        summary_page(first, report)
        pdf.savefig(first)
        for camera in report["cameras"]:
            page = Figure(figsize=A4)
            camera_page(page, camera, report)
            pdf.savefig(page)
    return out.getvalue()


def summary_page(fig, report: dict) -> None:
    fig.suptitle(f"MaskWatch: compliance on {report['date']} ({report['timezone']})", fontsize=15, y=0.97)
    cameras = report["cameras"]
    chart = fig.add_axes((0.22, 0.62, 0.7, 0.28))
    names = [c["camera"] for c in cameras][::-1]
    values = [100 * (c["total"]["compliance"] or 0) for c in cameras][::-1]
    bars = chart.barh(names, values, color=["#2e7d32" if v >= 90 else "#f9a825" if v >= 70 else "#c62828" for v in values])
    for bar, camera in zip(bars, cameras[::-1]):
        total = camera["total"]
        chart.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, f"{percent(total['compliance'])} of {total['people']} people"
                   if total["people"] else "nobody counted", va="center", fontsize=8)
    chart.set_xlim(0, 130)
    chart.set_xticks([0, 25, 50, 75, 100])
    chart.set_xlabel("compliance: people with a mask worn correctly, of those with a label (%)")
    table = fig.add_axes((0.05, 0.3, 0.9, 0.26))
    table.axis("off")
    rows = [[c["camera"], *(c["total"][label] for label in LABELS), c["total"]["people"], percent(c["total"]["compliance"]),
             len(c["alerts"]), f"{c['down_s'] / 60:.0f} min"] for c in cameras]
    grid = table.table(cellText=rows or [["no camera"] + [""] * 8], colLabels=["camera", *(SHORT[label] for label in LABELS), "people",
                                                                             "compliance", "alerts", "down"], loc="upper center")
    grid.auto_set_font_size(False)
    grid.set_fontsize(8)
    alerts = [(a["fired_at"], c["camera"], a["rule"]) for c in cameras for a in c["alerts"]]
    lines = [f"{clock(at)}  {camera}: {rule}" for at, camera, rule in sorted(alerts)[:MAX_ALERTS]] or ["none"]
    more = [f"... and {len(alerts) - MAX_ALERTS} more (JSON or CSV)"] if len(alerts) > MAX_ALERTS else []
    fig.text(0.05, 0.27, "Alerts sent", fontsize=11, weight="bold")
    fig.text(0.05, 0.25, "\n".join(lines + more), fontsize=8, va="top", family="monospace")


def camera_page(fig, camera: dict, report: dict) -> None:
    fig.suptitle(f"{camera['camera']}: hour by hour on {report['date']}", fontsize=14, y=0.97)
    table = fig.add_axes((0.05, 0.05, 0.9, 0.85))
    table.axis("off")
    rows = [[clock(h["hour"]), *(h[label] for label in LABELS), h["people"], percent(h["compliance"])] for h in camera["hours"]]
    rows.append(["day", *(camera["total"][label] for label in LABELS), camera["total"]["people"], percent(camera["total"]["compliance"])])
    grid = table.table(cellText=rows, colLabels=["hour", *(SHORT[label] for label in LABELS), "people", "compliance"], loc="upper center")
    grid.auto_set_font_size(False)
    grid.set_fontsize(8)
