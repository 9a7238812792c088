"""A tiny handmade corpus (one clear topic per passage) for tests that need no shared data, and a
few-hundred-passage synthetic corpus with its dense/BM25/hybrid indexes (built once per session)
for the index kinds and the retrieval service."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

TINY_PASSAGES = [
    (
        "Mars",
        "Mars is the fourth planet from the Sun, called the Red Planet for its iron oxide dust.",
    ),
    (
        "Jupiter",
        "Jupiter is the largest planet in the Solar System, a gas giant with dozens of moons.",
    ),
    (
        "Photosynthesis",
        "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
    ),
    (
        "Mount Everest",
        "Mount Everest in the Himalayas is Earth's highest mountain above sea level.",
    ),
    ("Amazon River", "The Amazon River in South America carries more water than any other river."),
    ("Python (language)", "Python is a programming language created by Guido van Rossum in 1991."),
    (
        "Eiffel Tower",
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, France, built in 1889.",
    ),
    ("Penicillin", "Alexander Fleming discovered penicillin, the first antibiotic, in 1928."),
    (
        "Great Wall of China",
        "The Great Wall of China is a series of fortifications in northern China.",
    ),
    ("Honey bee", "Honey bees live in colonies with a queen and make honey from flower nectar."),
    ("Violin", "The violin is a string instrument played with a bow, the smallest of its family."),
    ("Chess", "Chess is a board game for two players; checkmating the king wins the game."),
    ("Volcano", "A volcano is a rupture in the crust where lava, ash and gases escape."),
    (
        "Bitcoin",
        "Bitcoin is a decentralized digital currency introduced in 2009 by Satoshi Nakamoto.",
    ),
    (
        "Olympic Games",
        "The modern Olympic Games began in Athens in 1896 and are held every four years.",
    ),
    ("DNA", "DNA is a double helix molecule that carries the genetic instructions of organisms."),
    ("Coffee", "Coffee is brewed from roasted beans of the Coffea plant and contains caffeine."),
    ("Tokyo", "Tokyo is the capital of Japan and one of the most populous cities in the world."),
    ("Shakespeare", "William Shakespeare wrote Hamlet, Macbeth and Romeo and Juliet."),
    (
        "Antarctica",
        "Antarctica is the coldest continent, covered by a thick ice sheet around the South Pole.",
    ),
    (
        "Moon landing",
        "Apollo 11 landed the first humans, Neil Armstrong and Buzz Aldrin, on the Moon in 1969.",
    ),
    (
        "Blue whale",
        "The blue whale is the largest animal known to have existed, reaching 30 metres.",
    ),
    (
        "Electric car",
        "Electric cars run on batteries and electric motors instead of petrol engines.",
    ),
    ("Sahara", "The Sahara is the largest hot desert, spanning most of North Africa."),
]

# (query, title of the passage it must retrieve first)
TINY_QUERIES = [
    ("Which planet is known as the red planet?", "Mars"),
    ("Who discovered the first antibiotic?", "Penicillin"),
    ("What is the tallest mountain on Earth?", "Mount Everest"),
    ("When did people first walk on the moon?", "Moon landing"),
    ("Who created the Python programming language?", "Python (language)"),
]


def write_jsonl(path: Path, lines: list[dict | str]) -> Path:
    """Dicts become JSON lines; strings are written verbatim (for malformed-input cases)."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _tiny_records() -> list[dict]:
    return [{"id": f"d{i}", "title": t, "text": x} for i, (t, x) in enumerate(TINY_PASSAGES)]


@pytest.fixture
def jsonl(tmp_path: Path):
    """jsonl(name, lines) -> path of a JSONL file in this test's tmp dir."""
    return lambda name, lines: write_jsonl(tmp_path / name, lines)


@pytest.fixture
def tiny_records() -> list[dict]:
    """The tiny corpus as {id: "d<i>", title, text} records, in TINY_PASSAGES order."""
    return _tiny_records()


@pytest.fixture
def tiny_queries() -> list[tuple[str, str]]:
    return list(TINY_QUERIES)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tiny.jsonl", _tiny_records())


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Flat index over the tiny corpus, built once: tests that only read it share it."""
    from retriever_index.build import BuildConfig, build_index

    root = tmp_path_factory.mktemp("tiny_index")
    corpus = write_jsonl(root / "tiny.jsonl", _tiny_records())
    build_index(BuildConfig(corpus=str(corpus), out=str(root / "index"), shard_size=10))
    return root / "index"


# ---------------------------------------------------------------- a synthetic corpus and its indexes

KINDS = ["river", "castle", "lake", "festival", "bridge", "library", "orchestra", "observatory"]
REGIONS = ["Norland", "Vesper Coast", "the Ashen Hills", "Lower Marrow", "Quillfield", "Tarn Vale"]
FEATURES = [
    "copper roof",
    "winter market",
    "glass archive",
    "salt springs",
    "clock tower",
    "rare orchids",
    "stone lions",
    "night concerts",
    "red ferries",
    "whale bones",
]
SYLLABLES = ["ka", "lo", "mir", "ten", "vos", "ra", "quel", "dun", "bri", "sa", "tor", "ve"]


def synthetic_records(n: int = 300, seed: int = 0) -> list[dict]:
    """Short fictional passages with distinct titles: cheap to encode, easy to query."""
    rng = random.Random(seed)
    records, titles = [], set()
    while len(records) < n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
        kind = rng.choice(KINDS)
        title = f"{name} {kind.capitalize()}"
        if title in titles:
            continue
        titles.add(title)
        text = (
            f"The {title} is a {kind} in {rng.choice(REGIONS)}, first recorded in "
            f"{rng.randint(1200, 1990)}. It is known for its {rng.choice(FEATURES)}."
        )
        records.append({"id": f"p{len(records)}", "title": title, "text": text})
    return records


def synthetic_queries(records: list[dict], n: int = 64, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    picked = rng.sample(records, n)
    return [
        f"Which place is the {r['title']}, known for its {r['text'].split('for its ')[1]}"
        for r in picked
    ]


@pytest.fixture(scope="session")
def records() -> list[dict]:
    return synthetic_records()


@pytest.fixture(scope="session")
def queries(records: list[dict]) -> list[str]:
    return synthetic_queries(records)


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory: pytest.TempPathFactory, records: list[dict]) -> Path:
    path = tmp_path_factory.mktemp("service_corpus") / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="session")
def hybrid_index(tmp_path_factory: pytest.TempPathFactory, corpus_path: Path) -> Path:
    """Dense (Flat, MiniLM) + BM25 over the synthetic corpus: one encoding pass serves all."""
    from retriever_index.build import BuildConfig
    from retriever_index.hybrid import build_hybrid

    out = tmp_path_factory.mktemp("hybrid") / "index"
    build_hybrid(BuildConfig(corpus=str(corpus_path), out=str(out)))
    return out


@pytest.fixture(scope="session")
def bm25_index(tmp_path_factory: pytest.TempPathFactory, corpus_path: Path) -> Path:
    from retriever_index.bm25 import build_bm25

    out = tmp_path_factory.mktemp("bm25") / "index"
    build_bm25(corpus_path, out)
    return out


@pytest.fixture(scope="session")
def dense_index(tmp_path_factory: pytest.TempPathFactory, corpus_path: Path) -> Path:
    from retriever_index.build import BuildConfig, build_index

    out = tmp_path_factory.mktemp("dense") / "index"
    build_index(BuildConfig(corpus=str(corpus_path), out=str(out)))
    return out
