"""Builds the judged query set (queries.jsonl) from the bundled sample collection's records.

Run from the repository root: ``python -m search.judged.build`` (or ``python search/judged/build.py``).
The output depends only on sample_data/aic/records and the rule tables below, so a rebuild gives the
same file byte for byte. The rules, and how each grade is decided, are in search/judged/README.md.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "sample_data" / "aic" / "records"
OUT = Path(__file__).resolve().parent / "queries.jsonl"

TITLE_QUERIES = 45  # titles taken at an even stride from the unique ones, sorted by AIC id
ARTIST_QUERIES = 35

NATIONALITIES = {
    "american", "austrian", "bavarian", "belgian", "bolognese", "china", "dutch", "english", "flemish",
    "french", "german", "germany", "greek", "hungarian", "irish", "italian", "milanese", "netherlandish",
    "scottish", "spanish", "aztec",
}  # fmt: skip
QUALIFIERS = {  # a prefix of artist_display, and the grade an artist query gives the work
    "attributed to": 2,
    "workshop of": 2,
    "design attributed to": 2,
    "designed by": 3,
    "school of": 1,
    "follower of": 1,
    "after": 1,
    "style of": 1,
    "circle of": 1,
}
# The painters of the eight Impressionist exhibitions (1874-86) and Manet, and the next generation.
IMPRESSIONISTS = {"claude monet", "pierre-auguste renoir", "camille pissarro", "edgar degas", "mary cassatt",
                  "berthe morisot", "gustave caillebotte", "alfred sisley", "edouard manet", "eva gonzales",
                  "marcellin gilbert desboutin", "jean francois raffaelli"}  # fmt: skip
POST_IMPRESSIONISTS = {"paul cezanne", "paul gauguin", "georges seurat", "vincent van gogh",
                       "henri de toulouse-lautrec", "odilon redon"}  # fmt: skip


def fold(text: str) -> str:
    """Lower case without accents, punctuation as spaces, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    return " ".join(re.sub(r"[^\w'-]+", " ", plain).split())


@dataclass
class Record:
    aic_id: int
    title: str
    artist_line: str
    year: int | None
    medium: str
    text: str  # title and the controlled terms (subjects, terms, classifications, styles), folded
    prose: str  # alt text and description, folded
    has_image: bool
    date_start: int | None = None  # as the catalog stores them: the record's own fields only
    date_end: int | None = None
    is_public_domain: bool = False
    hue: int | None = None
    artist: str = ""  # folded name, "" when the line names a place or culture
    qualifier_grade: int = 3
    nationality: str = ""


@dataclass
class Query:
    query: str
    kind: str
    relevant: dict[int, int]
    filters: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "query": self.query,
            "kind": self.kind,
            "relevant": {str(aic_id): grade for aic_id, grade in sorted(self.relevant.items())},
        }
        if self.filters:
            line["filters"] = self.filters
        if self.note:
            line["note"] = self.note
        return line


def first_year(text: str | None) -> int | None:
    if not text:
        return None
    if match := re.search(r"\b(1[0-9]{3})\b", text):
        return int(match.group(1))
    if match := re.search(r"\b([0-9]{2})th century\b", text):
        return (int(match.group(1)) - 1) * 100 + 50
    return None


def load_records(folder: Path = RECORDS) -> list[Record]:
    records = []
    for path in sorted(folder.glob("*.json"), key=lambda p: int(p.stem)):
        data = json.loads(path.read_text())
        terms: list[str] = []
        for name in ("subject_titles", "term_titles", "classification_titles", "style_titles"):
            terms += data.get(name) or []
        thumbnail = data.get("thumbnail") or {}
        prose = " ".join(
            filter(None, [thumbnail.get("alt_text"), data.get("description"), data.get("short_description")])
        )
        record = Record(
            aic_id=int(data["id"]),
            title=data.get("title") or "",
            artist_line=(data.get("artist_display") or "").strip(),
            year=data.get("date_start") or first_year(data.get("date_display")),
            medium=fold(data.get("medium_display") or ""),
            text=fold(" ; ".join([data.get("title") or "", *terms])),
            prose=fold(re.sub(r"<[^>]+>", " ", prose)),
            has_image=bool(data.get("image_id")),
            date_start=data.get("date_start"),
            date_end=data.get("date_end"),
            is_public_domain=data.get("is_public_domain") is True,
            hue=(data.get("color") or {}).get("h"),
        )
        read_artist(record)
        records.append(record)
    return records


def read_artist(record: Record) -> None:
    """The artist's folded name, the grade an artist query gives this attribution, and the nationality."""
    line = record.artist_line.split("\n")[0].split(" / ")[0]
    nationality = re.search(r"\(([^)]*)\)", line)
    inside = nationality.group(1) if nationality else (record.artist_line.split(" / ")[1:] or [""])[0]
    words = fold(inside.split(";")[-1]).replace(",", " ").split()
    record.nationality = next((word for word in words if word in NATIONALITIES), "")
    name = fold(re.sub(r"\(.*", "", line))
    for prefix, grade in sorted(QUALIFIERS.items(), key=lambda item: -len(item[0])):
        if name.startswith(prefix + " "):
            name, record.qualifier_grade = name[len(prefix) + 1 :], grade
            break
    if ";" in line or not name or "unknown" in name or name.split()[-1] in NATIONALITIES or len(name.split()) < 2:
        if not record.nationality and name.split() and name.split()[0] in NATIONALITIES:
            record.nationality = name.split()[0]
        return
    record.artist = name


def content_words(text: str) -> list[str]:
    stop = {"a", "an", "the", "of", "and", "in", "on", "at", "with", "to", "by", "for", "from", "his", "her", "de"}
    return [word for word in fold(text).split() if word not in stop]


# --- Titles ---------------------------------------------------------------------------------------


def title_queries(records: list[Record]) -> list[Query]:
    """A title finds its artwork (3) and every artwork of the same title (3); an artwork whose title holds
    the whole title as a phrase (a study for it, a fragment of it) is 2."""
    by_title: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_title[fold(record.title)].append(record)
    unique = sorted((rs[0] for rs in by_title.values() if len(rs) == 1 and len(content_words(rs[0].title)) >= 1),
                    key=lambda r: r.aic_id)  # fmt: skip
    stride = max(1, len(unique) // TITLE_QUERIES)
    chosen = unique[::stride][:TITLE_QUERIES]
    # Titles several artworks share: every one is exactly what was asked.
    shared = sorted((rs[0] for rs in by_title.values() if len(rs) > 1), key=lambda r: r.aic_id)
    queries = []
    for record in [*chosen, *shared]:
        folded = fold(record.title)
        relevant = title_relevance(records, folded)
        note = "unique title" if len(by_title[folded]) == 1 else "title several artworks share"
        queries.append(Query(record.title, "title", relevant, note=note))
    return queries


def title_relevance(records: list[Record], folded: str) -> dict[int, int]:
    pattern = re.compile(rf"(^|\s){re.escape(folded)}(\s|$)")
    relevant = {}
    for record in records:
        title = fold(record.title)
        if title == folded:
            relevant[record.aic_id] = 3
        elif pattern.search(title):
            relevant[record.aic_id] = 2
    return relevant


# --- Artists --------------------------------------------------------------------------------------


def artist_relevance(records: list[Record], artist: str) -> dict[int, int]:
    """The artist's works (3, or the attribution's grade), and portraits titled with the name (1)."""
    relevant: dict[int, int] = {}
    for record in records:
        if record.artist == artist:
            relevant[record.aic_id] = record.qualifier_grade
        elif artist in fold(record.title):
            relevant[record.aic_id] = 1
    return relevant


def artist_queries(records: list[Record]) -> list[Query]:
    works: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        if record.artist:
            works[record.artist].append(record)
    # The most represented artists first, then by name: a visitor types the famous names.
    ranked = sorted(works, key=lambda name: (-len(works[name]), name))[:ARTIST_QUERIES]
    queries = []
    for artist in ranked:
        shown = re.sub(r"\(.*", "", works[artist][0].artist_line.split("\n")[0].split(" / ")[0]).strip()
        for prefix in QUALIFIERS:
            if shown.lower().startswith(prefix + " "):
                shown = shown[len(prefix) + 1 :]
        queries.append(Query(shown, "artist", artist_relevance(records, artist)))
    return queries


# --- Rules over the records' text: subjects, visual descriptions, styles, media -------------------


@dataclass(frozen=True)
class Rule:
    """Grades by regular expressions over the folded title and controlled terms (``text``); ``prose``
    (alt text, description) can only ever give 1. A record matches the highest grade it can."""

    query: str
    kind: str
    grade3: str = ""
    grade2: str = ""
    grade1: str = ""
    prose1: str = ""
    filters: tuple[tuple[str, Any], ...] = ()

    def relevance(self, records: Iterable[Record]) -> dict[int, int]:
        relevant = {}
        for record in records:
            for grade, pattern in ((3, self.grade3), (2, self.grade2), (1, self.grade1)):
                if pattern and re.search(pattern, record.text):
                    relevant[record.aic_id] = grade
                    break
            else:
                if self.prose1 and re.search(self.prose1, record.prose):
                    relevant[record.aic_id] = 1
        return relevant


SUBJECTS = [
    Rule("portrait", "subject", r"\bportrait\b", r"\bhead of\b|\bwoman's head\b", ""),
    Rule("saint", "subject", r"\bsaints?\b(?!-)|\bst\b", r"\bapostle\b|\bbishop\b", r"\bholy\b|\bmadonna\b|\bvirgin\b"),
    Rule(
        "portrait of a man",
        "subject",
        r"portrait of (a|an) (man|gentleman|officer|musician)",
        r"\bportrait\b.*\b(man|gentleman|officer)\b|\bman (with|in)\b",
        r"\bportrait\b",
    ),
    Rule(
        "portrait of a woman",
        "subject",
        r"portrait of a (young )?woman|portrait of a court lady",
        r"\bportrait of (mme|madame|isabella)|\bwoman\b|\blady\b|\bmadame\b",
        r"\bportrait\b",
    ),
    Rule(
        "portrait of a woman with a fan",
        "subject",
        r"portrait.*\bwoman.*\bfan\b",
        r"portrait of a (young )?woman|portrait of a court lady|\blady with\b",
        r"\bportrait\b|\bwoman\b",
    ),
    Rule(
        "portrait of a girl",
        "subject",
        r"portrait of a girl",
        r"\bgirl\b|\bdaughter\b|\bchild in white\b",
        r"\bportrait\b|\bchild\b",
    ),
    Rule("self-portrait", "subject", r"\bself[- ]portrait\b", "", r"\bportrait\b"),
    Rule(
        "virgin and child",
        "subject",
        r"\bvirgin and (christ )?child\b|\bmadonna and child\b",
        r"\bmadonna\b|\bholy family\b|\bnativity\b",
        r"\bvirgin\b|\bannunciation\b|\bassumption\b",
    ),
    Rule("madonna", "subject", r"\bmadonna\b|\bvirgin and child\b", r"\bvirgin\b", r"\bholy family\b|\bnativity\b"),
    Rule(
        "the crucifixion of christ",
        "subject",
        r"\bcrucifixion\b|\bchrist on the (living )?cross\b",
        r"\bcarrying the cross\b|\blamentation\b|\bentombment\b",
        r"\bchrist\b",
    ),
    Rule(
        "christ carrying the cross",
        "subject",
        r"\bchrist carrying the cross\b",
        r"\bcrucifixion\b|\bon the (living )?cross\b",
        r"\bchrist\b|\blamentation\b",
    ),
    Rule(
        "nativity",
        "subject",
        r"\bnativity\b",
        r"\badoration of the magi\b|\bshepherds\b",
        r"\bvirgin and child\b|\bholy family\b",
    ),
    Rule("adoration of the magi", "subject", r"\badoration of the magi\b", r"\bnativity\b", r"\bshepherds\b"),
    Rule(
        "saint john the baptist",
        "subject",
        r"\bsaint john the baptist\b",
        r"\bjohn the baptist\b|\bst john\b|\becce agnus dei\b",
        r"\bsaint john\b|\bsaint\b(?!-)",
    ),
    Rule("saint jerome", "subject", r"\bsaint jerome\b", r"\bjerome\b", ""),
    Rule("saint christopher", "subject", r"\bsaint christopher\b", r"\bchristopher\b", ""),
    Rule(
        "female saints",
        "subject",
        r"\bsaints? (lucy|agatha|catherine|apollonia|barbara|cecilia|elizabeth)\b",
        r"\b(lucy|agatha|catherine|apollonia|barbara)\b",
        r"\bsaint\b(?!-)",
    ),
    Rule(
        "still life",
        "subject",
        r"\bstill life\b",
        r"\bvase of flowers\b|\bflowers in a vase\b|\bbouquet\b|\bapples\b|\bfruits?\b|\bdead birds\b",
        r"\bflowers\b|\bchrysanthemums\b",
    ),
    Rule(
        "still life with flowers",
        "subject",
        r"\bstill life with flowers\b|\bflowers in a vase\b|\bvase of flowers\b|\bbouquet of flowers\b",
        r"\bflowers\b|\bchrysanthemums\b|\bpoppies\b",
        r"\bstill life\b",
    ),
    Rule(
        "landscape",
        "subject",
        r"\blandscape\b",
        r"\bview of\b|\bpasture\b|\bmarsh\b|\bpond\b|\bspringtime\b|\balpine\b|\bwooded\b|\bpanoramic\b|\bmountain\b",
        r"\briver\b|\bseine\b|\broad\b|\bgrove\b",
    ),
    Rule(
        "river landscape",
        "subject",
        r"\briver landscape\b|\bby a river\b",
        r"\briver\b|\bseine\b|\bbank of\b|\bbranch of the\b",
        r"\blandscape\b|\bpond\b|\blake\b",
    ),
    Rule(
        "seascape",
        "subject",
        r"\bseascape\b|\bsea view\b",
        r"\bsea\b|\bbeach\b|\bbay of\b|\bboats\b|\betretat\b",
        r"\bcliff\b|\bsplash point\b",
    ),
    Rule(
        "mythological scene with venus",
        "subject",
        r"\bvenus\b",
        r"\bcupid\b|\bdream of paris\b|^paris$|\bhelen\b|\bdiana\b|\bnymph\b",
        r"\bjove\b|\bphaeton\b|\balpheus\b|\bpan\b|\beurydice\b",
    ),
    Rule(
        "greek mythology",
        "subject",
        r"\b(venus|cupid|diana|endymion|phaeton|phoebus|vulcan|jove|alpheus|arethusa|eurydice|helen|polyxena|apotheosis)\b|\bdream of paris\b|^paris$",
        "",
        r"\bnymph\b|\bmuses\b|\bpan\b",
    ),
    Rule(
        "peasants working in the fields",
        "subject",
        r"\bpeasant\b.*\bdigging\b|\bloading hay\b|\bman ploughing\b|\bsheepshearers\b|\bwoodchopper\b",
        r"\bpeasants?\b|\bshepherdess\b|\bkeeper of the herd\b|\blaundress\b|\bherdsman\b",
        r"\bcottage\b|\bmarket\b",
    ),
    Rule("hunting scene", "subject", r"\bhunt\b|\bhunters\b", r"\blion\b|\bdead birds and shot\b", r"\btournament\b"),
    Rule(
        "mother and child",
        "subject",
        r"\bmother and child|\bwoman and child\b|\bmother and children\b|\bchild's bath\b",
        r"\bvirgin and child\b|\bmadonna and child\b",
        r"\bchild\b|\bchildren\b",
    ),
    Rule("dancers", "subject", r"\bdancers\b", r"\bballet\b|\bacrobats\b", r"\bcafe singer\b|\bcarousal\b"),
    Rule("bathers", "subject", r"\bbathers?\b|\bbathing\b", r"\bbath\b|\bnymph\b", r"\bnudes\b|\btoilette\b"),
    Rule(
        "armor",
        "subject",
        r"\barmou?r\b",
        r"\bknights\b|\bcavalry\b|\bofficer\b|\bwarrior\b",
        r"\bcavalier\b|\bout-post\b",
    ),
    Rule(
        "animals",
        "subject",
        r"\banimals\b|\bcow\b|\bpigs\b|\bcattle\b|\bbirds\b|\bdog\b|\blion\b|\bdragonfl",
        r"\bhorseman\b|\bherd\b|\bsheep",
        r"\bhunt\b|\bpasture\b",
    ),
    Rule(
        "cityscape paris",
        "subject",
        r"\bparis street\b|\bplace du havre\b|\bnotre dame de paris\b|\bgare saint-lazare\b",
        r"\burban life\b",
        r"\bstreet\b",
    ),
]

VISUAL = [
    # Colour queries are graded after the full records' dominant colour (``color``), below.
    Rule(
        "a stormy sea", "visual", r"\bboats in a storm\b", r"\bstormy\b|\bstorm\b", r"\bseascape\b|\bsea view\b|\bsea\b"
    ),
    Rule("a stormy sea at night", "visual", r"\bboats in a storm\b", r"\bstorm\b|\bstormy\b", r"\bsea\b|\bseascape\b"),
    Rule(
        "boats on a beach",
        "visual",
        r"\bboats on the beach\b|\bdeparture of the boats\b",
        r"\bbeach\b|\bboats\b",
        r"\bsea\b|\bseascape\b|\bbay\b",
    ),
    Rule(
        "flowers in a vase",
        "visual",
        r"\bflowers in a vase\b|\bvase of flowers\b|\bbouquet of flowers\b",
        r"\bflowers\b|\bchrysanthemums\b|\bpoppies\b",
        r"\bvase\b|\bstill life\b",
    ),
    Rule(
        "a bowl of fruit",
        "visual",
        r"\bbasket of apples\b|\bapples and grapes\b|\bfruits of the midi\b",
        r"\bapples?\b|\bgrapes\b|\bfruits?\b|\bcherries\b",
        r"\bstill life\b",
    ),
    Rule(
        "a rainy street with umbrellas",
        "visual",
        r"\brainy day\b|\bumbrellas\b",
        r"\bparis street\b|\bplace du havre\b",
        r"\bstreet\b|\bshower\b",
        prose1=r"\bumbrella",
    ),
    Rule("a train in a station", "visual", r"\bnormandy train\b", r"\brailway station\b|\bgare\b", ""),
    Rule(
        "a woman in front of a mirror",
        "visual",
        r"\btoilette\b",
        r"\blooking at a mirror\b",
        r"\bwoman\b",
        prose1=r"\bwoman\b.*\bmirror|\bmirror.*\bwoman\b",
    ),
    Rule("a woman with a parasol", "visual", r"\bparasol\b", r"\bgrande jatte\b", r"\bumbrellas\b"),
    Rule(
        "a horse rider in the snow",
        "visual",
        r"\briding through the snow\b",
        r"\bhorseman\b|\bmounted officer\b|\bcavalry\b|\bcavalier\b",
        r"\bsnow\b|\bhorse\b",
    ),
    Rule(
        "cows grazing in a meadow",
        "visual",
        r"\bpasture\b|\bherdsman and cattle\b",
        r"\bcow\b|\bcattle\b|\bherd\b",
        r"\broad to market\b|\bsheep",
    ),
    Rule(
        "people picnicking in a park by the river",
        "visual",
        r"\bgrande jatte\b",
        r"\bbathers at asnieres\b|\browers' lunch\b|\bnear the lake\b",
        r"\bleisure\b",
        prose1=r"\bpark\b",
    ),
    Rule("a woman reading", "visual", r"\binterrupted reading\b", r"\breading\b", r"\bbooks\b"),
    Rule("a woman playing the piano", "visual", r"\bpiano\b", r"\bmusician\b|\bmusical instruments\b", ""),
    Rule("a skull and an hourglass", "visual", r"\bvanitas\b|\bhourglass\b", r"\bstill life\b", ""),
    Rule("a lion attacking horsemen", "visual", r"\blion hunt\b", r"\bhunt\b|\bhunters\b", r"\blion\b"),
    Rule("gold background painting of saints", "visual", r"\bsaints?\b.*", r"\bvirgin and child\b|\bmadonna\b", ""),
    Rule("haystacks at the end of summer", "visual", r"\bstacks of wheat\b", r"\bhay\b|\bwheat\b", r"\bsummer\b"),
    Rule("dragonfly lamp", "visual", r"\bdragonfly\b|\bdragonflys\b", r"\blamp\b", r"\binsects\b", prose1=r"dragonfl"),
    Rule("an angry girl in tahiti", "visual", r"\bwhy are you angry\b", "", ""),
]
# (query, first hue, last hue): a record whose dominant colour (``color.h``, degrees) lies in the range is
# 2, one whose alt text or description names the colour is 1. Only full records carry either.
COLOURS = [
    ("a blue painting", 190, 250, r"\bblue\b"),
    ("warm golden yellow tones", 30, 60, r"\b(gold|golden|yellow)\b"),
]

# "gold background painting of saints": the saints must also be painted on a gold ground (medium).
GOLD_GROUND = "gold background painting of saints"

# A tier: (grade, nationalities or None for any, first year, last year, artists or None for any).
Tier = tuple[int, set[str] | None, int, int, set[str] | None]
STYLES: list[tuple[str, str, list[Tier]]] = [
    # (query, kind, tiers): a record takes the grade of the first tier it falls in.
    ("impressionism", "style", [(3, None, 1860, 1900, IMPRESSIONISTS), (1, None, 1860, 1910, POST_IMPRESSIONISTS)]),
    (
        "impressionist painting",
        "style",
        [(3, None, 1860, 1900, IMPRESSIONISTS), (1, None, 1860, 1910, POST_IMPRESSIONISTS)],
    ),
    (
        "post-impressionism",
        "style",
        [(3, None, 1880, 1910, POST_IMPRESSIONISTS), (1, None, 1874, 1900, IMPRESSIONISTS)],
    ),
    ("italian renaissance painting", "style", [(3, {"italian"}, 1400, 1560, None), (1, {"italian"}, 1300, 1399, None)]),
    ("early italian gold ground painting", "style", [(3, {"italian"}, 1250, 1460, None)]),
    ("dutch golden age", "style", [(3, {"dutch"}, 1600, 1700, None), (1, {"flemish"}, 1600, 1700, None)]),
    ("flemish baroque painting", "style", [(3, {"flemish"}, 1600, 1700, None), (1, {"dutch"}, 1600, 1700, None)]),
    ("early netherlandish painting", "style", [(3, {"netherlandish", "flemish"}, 1400, 1560, None)]),
    ("spanish gothic altarpiece", "style", [(3, {"spanish"}, 1350, 1500, None)]),
    ("italian baroque", "style", [(3, {"italian"}, 1600, 1750, None)]),
    ("eighteenth-century venetian painting", "style", [(3, {"italian"}, 1700, 1799, None)]),
    ("french rococo", "style", [(3, {"french"}, 1700, 1789, None)]),
    (
        "barbizon school landscape",
        "style",
        [
            (
                3,
                {"french"},
                1830,
                1880,
                {
                    "theodore rousseau",
                    "jules dupre",
                    "narcisse virgile diaz de la pena",
                    "charles francois daubigny",
                    "constant troyon",
                    "jean-baptiste-camille corot",
                    "jean-francois millet",
                },
            )
        ],
    ),
    ("german renaissance", "style", [(3, {"german", "bavarian", "germany"}, 1450, 1600, None)]),
    ("nineteenth-century french painting", "style", [(3, {"french"}, 1800, 1899, None)]),
    ("kandinsky abstraction", "style", [(3, None, 1900, 1950, {"vasily kandinsky"})]),
]

MEDIA = [
    Rule("tempera on panel", "medium", "", "", ""),
    Rule("oil on copper", "medium", "", "", ""),
    Rule("oil on panel", "medium", "", "", ""),
]

# Spanish, French and German for subjects above: the same artworks, graded by the English rule.
LANGUAGE = [
    ("retrato de un hombre", "portrait of a man"),
    ("portrait d'homme", "portrait of a man"),
    ("Bildnis eines Mannes", "portrait of a man"),
    ("retrato de una mujer", "portrait of a woman"),
    ("portrait de femme", "portrait of a woman"),
    ("Bildnis einer Frau", "portrait of a woman"),
    ("la Virgen y el Niño", "virgin and child"),
    ("la Vierge à l'Enfant", "virgin and child"),
    ("Madonna mit Kind", "virgin and child"),
    ("la crucifixión", "the crucifixion of christ"),
    ("la Crucifixion", "the crucifixion of christ"),
    ("Kreuzigung", "the crucifixion of christ"),
    ("naturaleza muerta con flores", "still life with flowers"),
    ("nature morte", "still life"),
    ("Stillleben", "still life"),
    ("paisaje", "landscape"),
    ("paysage", "landscape"),
    ("Landschaft", "landscape"),
    ("marina", "seascape"),
    ("la mer", "seascape"),
    ("Seestück", "seascape"),
    ("la Natividad", "nativity"),
    ("l'Adoration des mages", "adoration of the magi"),
    ("Anbetung der Könige", "adoration of the magi"),
    ("San Juan Bautista", "saint john the baptist"),
    ("saint Jérôme", "saint jerome"),
    ("danseuses", "dancers"),
    ("baigneuses", "bathers"),
    ("Mutter und Kind", "mother and child"),
    ("caza del león", "hunting scene"),
    ("une rue de Paris sous la pluie", "a rainy street with umbrellas"),
    ("Pferd im Schnee", "a horse rider in the snow"),
]

# Misspellings of artists' names and titles visitors type: graded as the query they mean.
MISSPELLINGS = [
    ("Claude Monnet", ("artist", "claude monet")),
    ("Renior", ("artist", "pierre-auguste renoir")),
    ("Pierre Auguste Renoire", ("artist", "pierre-auguste renoir")),
    ("Cezane", ("artist", "paul cezanne")),
    ("Van Gough", ("artist", "vincent van gogh")),
    ("Degaz", ("artist", "edgar degas")),
    ("Pisarro", ("artist", "camille pissarro")),
    ("Kandinski", ("artist", "vasily kandinsky")),
    ("Gaugin", ("artist", "paul gauguin")),
    ("Caillebote", ("artist", "gustave caillebotte")),
    ("Velasquez", ("artist", "diego velazquez")),
    ("Reubens", ("artist", "peter paul rubens")),
    ("Mary Cassat", ("artist", "mary cassatt")),
    ("Millet shepherdess", ("title", "the little shepherdess")),
    ("Water Lillies", ("title", "water lilies")),
    ("Sunday on La Grand Jatte", ("title", "a sunday on la grande jatte 1884")),
    ("Paris Street Rainy Dya", ("title", "paris street rainy day")),
    ("The Bed Room", ("title", "the bedroom")),
    ("Stacks of Weat", ("title", "stacks of wheat end of summer")),
    ("Boats on the Beach at Etretat", ("title", "boats on the beach at etretat")),
    ("Lunch at the Restaurent Fournaise", ("title", "lunch at the restaurant fournaise the rowers' lunch")),
    ("Virgn and Child", ("subject", "virgin and child")),
    ("crucifiction", ("subject", "the crucifixion of christ")),
    ("stil life", ("subject", "still life")),
    ("landscpe", ("subject", "landscape")),
]

# Filters as the API takes them: the subject rule's artworks within the filter.
FILTERED: list[tuple[str, str, dict[str, Any]]] = [
    ("portrait", "portrait", {"has_image": True}),
    ("portrait", "portrait", {"date_from": 1800, "date_to": 1899}),
    ("virgin and child", "virgin and child", {"is_public_domain": True}),
    ("landscape", "landscape", {"has_image": True}),
    ("saint", "saint", {"is_public_domain": True}),
    ("women", "portrait of a woman", {"date_from": 1850, "date_to": 1899}),
]


def style_relevance(records: list[Record], tiers: list[Tier]) -> dict[int, int]:
    relevant = {}
    for record in records:
        for grade, nationalities, first, last, artists in tiers:
            if nationalities is not None and record.nationality not in nationalities:
                continue
            if artists is not None and record.artist not in artists:
                continue
            # Thin records of a named artist often carry no date: the artist alone decides.
            if record.year is None and artists is None:
                continue
            if record.year is not None and not first <= record.year <= last:
                continue
            relevant[record.aic_id] = grade
            break
    return relevant


def passes(record: Record, filters: dict[str, Any]) -> bool:
    """Whether the API's filters (search/filters.py) keep the record: dates overlap the range, with the
    catalog's own date_start and date_end (most sample records have none, and are dropped)."""
    start, end = record.date_start, record.date_end
    if "date_from" in filters:
        last = end if end is not None else start
        if last is None or last < filters["date_from"]:
            return False
    if "date_to" in filters:
        first = start if start is not None else end
        if first is None or first > filters["date_to"]:
            return False
    if "has_image" in filters and record.has_image != filters["has_image"]:
        return False
    return "is_public_domain" not in filters or record.is_public_domain == filters["is_public_domain"]


def build(records: list[Record]) -> list[Query]:
    queries = title_queries(records)
    queries += artist_queries(records)
    subjects = {rule.query: rule for rule in SUBJECTS + VISUAL}
    for rule in SUBJECTS:
        queries.append(Query(rule.query, rule.kind, rule.relevance(records)))
    gold = {r.aic_id for r in records if "gold ground" in r.medium}
    for rule in VISUAL:
        relevant = rule.relevance(records)
        if rule.query == GOLD_GROUND:
            relevant = {aic_id: grade for aic_id, grade in relevant.items() if aic_id in gold}
            relevant |= {aic_id: 1 for aic_id in gold if aic_id not in relevant}
        queries.append(Query(rule.query, rule.kind, relevant))
    for query, first, last, named in COLOURS:
        relevant = {r.aic_id: 1 for r in records if re.search(named, r.prose)}
        relevant |= {r.aic_id: 2 for r in records if r.hue is not None and first <= r.hue <= last}
        queries.append(Query(query, "visual", relevant))
    for query, kind, tiers in STYLES:
        queries.append(Query(query, kind, style_relevance(records, tiers)))
    for rule in MEDIA:
        queries.append(Query(rule.query, "medium", {r.aic_id: 3 for r in records if rule.query in r.medium}))
    for text, english in LANGUAGE:
        queries.append(Query(text, "language", subjects[english].relevance(records), note=f"means: {english}"))
    for text, (kind, target) in MISSPELLINGS:
        if kind == "artist":
            relevant = artist_relevance(records, target)
        elif kind == "title":
            relevant = title_relevance(records, target)
        else:
            relevant = subjects[target].relevance(records)
        queries.append(Query(text, "misspelling", relevant, note=f"means: {target}"))
    for text, english, filters in FILTERED:
        rule = subjects[english]
        kept = {r.aic_id for r in records if passes(r, filters)}
        relevant = {aic_id: grade for aic_id, grade in rule.relevance(records).items() if aic_id in kept}
        queries.append(Query(text, "filtered", relevant, filters=filters, note=f"graded as: {english}"))
    empty = [q.query for q in queries if not q.relevant]
    if empty:
        raise SystemExit(f"queries with no relevant artwork: {empty}")
    return queries


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else OUT
    queries = build(load_records())
    with out.open("w", encoding="utf-8") as handle:
        for query in queries:
            handle.write(json.dumps(query.as_json(), ensure_ascii=False) + "\n")
    print(f"{len(queries)} queries written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
