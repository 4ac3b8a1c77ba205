"""Every relative link in the project's Markdown files points at a file that exists, and every #anchor at one
of that file's headings (GitHub's anchor rules: lower case, punctuation dropped, spaces to hyphens)."""
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    return [ROOT / f for f in tracked] or list(ROOT.glob("*.md"))


def anchors(path: Path) -> set[str]:
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return found


def test_relative_links_and_anchors_exist():
    broken = []
    for doc in markdown_files():
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            linked = (doc.parent / path).resolve() if path else doc
            if not linked.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


# The product's documents: each figure is written once, where it is measured; the rest link to it.
PRODUCT_DOCS = ("README.md", "BENCHMARKS.md", "RELIABILITY.md", "research/README.md", "docs/*.md", "models/weights/*.md")
# A figure: a decimal with at least three significant digits, outside code (commands, settings and versions).
FIGURE = re.compile(r"(?<![\w.])\d[\d,]*\.\d+(?![\w.])")
# Equal values of different quantities, each written once: checked by hand, named here so that no new one slips in.
COINCIDENCES = {
    "0.479": "small- and large-face cards: the logit bias is -tau * log(prior), the same training prior and tau",
    "0.550": "small- and large-face cards: the logit bias, as 0.479",
    "43.4": "BENCHMARKS: a Kaggle p50 with the large-face classifier; RELIABILITY: a 200 after an overload",
    "0.792": "classifier card: pooled test accuracy on incorrectly worn; detector card: ILC test mAP",
    "0.921": "classifier card: ILC val ACA; detector card: Kaggle val face AP, ILC test AP@0.5",
    "0.923": "classifier card: Kaggle test ACA; detector card: ILC test AP@0.5 with 88 ignored",
    "0.926": "classifier card: ILC CV ACA as run; detector card: Kaggle val AP@0.5",
    "0.936": "classifier card: pooled test accuracy; detector card: the previous detector's face AP",
    "0.938": "classifier card: ILC val accuracy; detector card: Kaggle test AP@0.5 with faces ignored",
    "0.946": "classifier card: pooled val accuracy; detector card: ILC val recall",
    "0.864": "classifier card: CV incorrect accuracy; detector card: ILC val face AP",
    "86.6": "BENCHMARKS: upload p99 beside 4 cameras; RELIABILITY: the camera soak's upload p50",
    "71.5": "BENCHMARKS: images/s of a pair's default; RELIABILITY: the overload run's first upload after, ms",
}


def figures(text: str) -> set[str]:
    text = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
    return {n for n in FIGURE.findall(text) if len(n.replace(",", "").replace(".", "").lstrip("0")) >= 3}


def summary_table(readme: str) -> str:
    """The README's "How good and how fast" table: its figures repeat the linked ones by design."""
    section = readme.split("## How good and how fast", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def test_no_figure_is_written_in_two_documents():
    where: dict[str, set[str]] = {}
    for pattern in PRODUCT_DOCS:
        for doc in sorted(ROOT.glob(pattern)):
            text = doc.read_text()
            if doc.name == "README.md" and doc.parent == ROOT:
                text = text.replace(summary_table(text), "")
            for figure in figures(text):
                where.setdefault(figure, set()).add(str(doc.relative_to(ROOT)))
    repeated = {n: sorted(docs) for n, docs in where.items() if len(docs) > 1 and n not in COINCIDENCES}
    assert not repeated, repeated
    assert figures("p50 34.0 ms, `--top-cut 0.34`, 0.5 s, torch 2.14.1") == {"34.0"}


def test_every_summary_figure_is_in_the_document_it_links_to():
    for row in summary_table((ROOT / "README.md").read_text()).splitlines()[2:]:
        linked = figures((ROOT / LINK.findall(row)[0].partition("#")[0]).read_text())
        for figure in figures(row):  # as written there, or rounded from it
            decimals = len(figure.partition(".")[2])
            assert any(round(float(f.replace(",", "")), decimals) == float(figure.replace(",", "")) for f in linked), (figure, row)


SECTION_REFERENCE = re.compile(r"([\w/]+\.md),\s*(?:#\s*)?\\?\"([^\"\\]+)")


def test_sections_cited_in_code_exist():
    cited = []
    for package in ("app", "models", "training", "bench", "deploy", "research"):
        for path in (ROOT / package).glob("*.py" if package == "research" else "**/*.py"):
            for doc, title in SECTION_REFERENCE.findall(path.read_text()):
                headings = [line.lstrip("#").strip() for line in (ROOT / doc).read_text().splitlines() if line.startswith("#")] \
                    if (ROOT / doc).is_file() else []
                if not any(h.startswith(title) for h in headings):
                    cited.append(f"{path.relative_to(ROOT)}: {doc}, \"{title}\"")
    assert not cited, cited


def test_every_setting_is_in_the_configuration_page():
    from app.settings import Settings

    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`MASKWATCH_{name.upper()}`" not in page
               and not (name.startswith("api_keys") and "`MASKWATCH_API_KEYS" in page)]
    assert not missing, missing


def test_the_readmes_cameras_file_is_one_the_service_reads(tmp_path):
    from app.cameras.config import read_cameras_file

    block = re.search(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    (tmp_path / "cameras.yaml").write_text(block)
    cameras = read_cameras_file(tmp_path / "cameras.yaml")
    assert [c.id for c in cameras] == ["entrance", "till"] and [a.rule for a in cameras[1].alerts] == ["low_compliance", "camera_down"]


RESULT_PATH = re.compile(r"research/results/[\w./-]+\.(?:json|jsonl|md|csv|png)")


def test_every_results_file_named_in_a_doc_or_command_exists():
    """Commands in docstrings and docs name the files they wrote: each must be there (a renamed result leaves none behind)."""
    tracked = subprocess.run(["git", "ls-files", "*.md", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    missing = sorted({f"{name}: {path}" for name in tracked for path in RESULT_PATH.findall((ROOT / name).read_text())
                      if not (ROOT / path).exists()})
    assert not missing, "\n".join(missing)
