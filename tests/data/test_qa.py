"""QA loaders: every accepted format, spec resolution, the shared dev files, and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agentic_rag.data.qa import QADataError, QAExample, load_qa

SEARCH_R1_INSTRUCTION = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> first "
    "every time you get new information. ... For example, <answer> Beijing </answer>. "
)


def write_jsonl(path: Path, records: list[dict] | list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def search_r1_row(idx: int, question: str, answers: list[str], source: str = "nq") -> dict:
    """A row shaped like Search-R1's scripts/data_process/nq_search.py output (map() keeps the
    FlashRAG columns id/question/golden_answers next to the new ones)."""
    return {
        "id": f"test_{idx}",
        "question": question,
        "golden_answers": answers,
        "data_source": source,
        "prompt": [{"role": "user", "content": f"{SEARCH_R1_INSTRUCTION}Question: {question}\n"}],
        "ability": "fact-reasoning",
        "reward_model": {"style": "rule", "ground_truth": {"target": answers}},
        "extra_info": {"split": "test", "index": idx},
    }


# ---------------------------------------------------------------------------- formats


def test_normalized_jsonl_keeps_every_field(tmp_path):
    path = write_jsonl(
        tmp_path / "mini.jsonl",
        [
            {
                "id": "q1",
                "question": "  Who wrote Hamlet? ",
                "answers": [" William Shakespeare", "Shakespeare", "Shakespeare", ""],
                "dataset": "lit",
                "type": "bridge",
                "level": "hard",
                "supporting_titles": ["Hamlet"],
                "supporting_ids": [7, "9"],
                "contexts": [{"title": "Hamlet", "text": "A play."}],
            },
            {"id": "q2", "question": "Capital of France?", "answers": "Paris"},
            {"question": "No id?", "answers": ["x", 1999]},
        ],
    )
    first, second, third = load_qa(str(path))
    assert first == QAExample(
        id="q1",
        question="Who wrote Hamlet?",
        answers=["William Shakespeare", "Shakespeare"],
        dataset="lit",
        supporting_titles=["Hamlet"],
        supporting_ids=["7", "9"],
        type="bridge",
        level="hard",
        extra={"contexts": [{"title": "Hamlet", "text": "A play."}]},
    )
    # a bare string answer becomes a list; the dataset defaults to the file's stem
    assert second.answers == ["Paris"]
    assert second.dataset == "mini"
    assert second.type is None and second.supporting_titles == []
    # without an id the position names the question (stable across runs, so resume works)
    assert (third.id, third.answers) == ("mini-2", ["x", "1999"])


def test_normalized_parquet(tmp_path):
    path = tmp_path / "nq" / "test.parquet"
    path.parent.mkdir()
    rows = [
        {"id": "a", "question": "q one?", "answers": ["x", "y"]},
        {"id": "b", "question": "q two?", "answers": ["z"]},
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    examples = load_qa(str(path))
    assert [(e.id, e.question, e.answers) for e in examples] == [
        ("a", "q one?", ["x", "y"]),
        ("b", "q two?", ["z"]),
    ]
    # a split-named file takes its folder's name as the dataset
    assert {e.dataset for e in examples} == {"nq"}


def test_search_r1_parquet_with_question_column(tmp_path):
    path = tmp_path / "test.parquet"
    rows = [
        search_r1_row(0, "who got the first nobel prize in physics?", ["Wilhelm Conrad Röntgen"]),
        search_r1_row(1, "when is the next deadpool movie being released?", ["May 18, 2018"]),
        search_r1_row(2, "which is the fastest bird?", ["peregrine falcon"], source="hotpotqa"),
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    examples = load_qa(str(path))
    assert [e.id for e in examples] == ["test_0", "test_1", "test_2"]
    assert examples[0].question == "who got the first nobel prize in physics?"
    assert examples[0].answers == ["Wilhelm Conrad Röntgen"]
    # merged Search-R1 test files mix data sources: each record keeps its own
    assert [e.dataset for e in examples] == ["nq", "nq", "hotpotqa"]
    assert examples[0].extra["extra_info"] == {"split": "test", "index": 0}
    assert examples[0].extra["prompt"][0]["role"] == "user"


def test_search_r1_parquet_question_from_prompt_and_generated_ids(tmp_path):
    """Without id/question columns the question is the prompt's last 'Question:' line; a
    string target (some Search-R1 scripts write one) becomes a one-answer list."""
    path = tmp_path / "train.parquet"
    rows = []
    for i, (q, a) in enumerate([("what is the tallest mountain?", "Everest"), ("x or y?", "y")]):
        row = search_r1_row(i, q, [a])
        row["reward_model"]["ground_truth"]["target"] = a
        for column in ("id", "question", "golden_answers"):
            del row[column]
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows), path)
    first, second = load_qa(str(path))
    assert first.question == "what is the tallest mountain?"
    assert first.id == "nq-test-0"
    assert second.answers == ["y"]


def test_flashrag_jsonl_reads_supporting_titles_from_metadata(tmp_path):
    path = write_jsonl(
        tmp_path / "hotpotqa" / "dev.jsonl",
        [
            {
                "id": "5a8b57f25542995d1e6f1371",
                "question": "Were Scott Derrickson and Ed Wood of the same nationality?",
                "golden_answers": ["yes"],
                "metadata": {
                    "type": "comparison",
                    "level": "hard",
                    "supporting_facts": {
                        "title": ["Scott Derrickson", "Ed Wood", "Ed Wood"],
                        "sent_id": [0, 0, 1],
                    },
                },
            },
            {
                "id": "2hop__1",
                "question": "Who is the spouse of X?",
                "golden_answers": ["Y", "Mr Y"],
                "metadata": {
                    "paragraphs": [
                        {"title": "A", "paragraph_text": "...", "is_supporting": False},
                        {"title": "B", "paragraph_text": "...", "is_supporting": True},
                    ]
                },
            },
            {
                "id": "test_3",
                "question": "Old format?",
                "golden_answers": ["z"],
                "metadata": {"supporting_facts": [["T1", 0], ["T2", 3]]},
            },
        ],
    )
    hotpot, musique, original = load_qa(str(path.parent))  # a folder means its dev.jsonl
    assert hotpot.dataset == "hotpotqa"
    assert hotpot.answers == ["yes"]
    assert hotpot.supporting_titles == ["Scott Derrickson", "Ed Wood"]
    assert (hotpot.type, hotpot.level) == ("comparison", "hard")
    assert musique.supporting_titles == ["B"]
    assert musique.answers == ["Y", "Mr Y"]
    assert original.supporting_titles == ["T1", "T2"]
    assert "metadata" in hotpot.extra


def test_short_name_resolves_against_data_root_and_limit(tmp_path, monkeypatch):
    rows = [{"id": str(i), "question": f"q{i}?", "answers": [str(i)]} for i in range(5)]
    write_jsonl(tmp_path / "toy" / "dev.jsonl", rows)
    monkeypatch.setenv("AGENTIC_RAG_DATA", str(tmp_path))
    examples = load_qa("toy", limit=2)
    assert [e.id for e in examples] == ["0", "1"]
    assert examples[0].dataset == "toy"


def test_seeded_sample_is_fixed_in_file_order_and_capped(tmp_path, monkeypatch):
    rows = [{"id": str(i), "question": f"q{i}?", "answers": [str(i)]} for i in range(50)]
    write_jsonl(tmp_path / "toy" / "dev.jsonl", rows)
    monkeypatch.setenv("AGENTIC_RAG_DATA", str(tmp_path))
    first = [e.id for e in load_qa("toy", sample=10, seed=0)]
    assert first == [e.id for e in load_qa("toy", sample=10, seed=0)]  # same seed, same ids
    assert len(set(first)) == 10 and first == sorted(first, key=int)  # file order kept
    assert first != [str(i) for i in range(10)]  # a sample, not the head of the file
    assert first != [e.id for e in load_qa("toy", sample=10, seed=1)]
    assert [e.id for e in load_qa("toy", sample=500)] == [str(i) for i in range(50)]
    larger = [e.id for e in load_qa("toy", sample=30, seed=0)]
    assert set(first) < set(larger)  # a larger sample extends a smaller one: runs resume into it
    with pytest.raises(QADataError, match="either limit .* or sample"):
        load_qa("toy", limit=2, sample=2)
    with pytest.raises(QADataError, match="sample must be a positive"):
        load_qa("toy", sample=0)


# ---------------------------------------------------------------------------- shared data

SHARED_COUNTS = {
    "hotpotqa": 1174,
    "2wikimultihopqa": 462,
    "musique": 204,
    "nq": 2527,
    "triviaqa": 700,
    "popqa": 700,
    "bamboogle": 88,
}


@pytest.mark.parametrize("name", sorted(SHARED_COUNTS))
def test_shared_dev_files_load(shared_qa_dir, monkeypatch, name):
    monkeypatch.setenv("AGENTIC_RAG_DATA", str(shared_qa_dir))
    examples = load_qa(name)
    assert len(examples) == SHARED_COUNTS[name]  # the counts SOURCES.md documents
    assert load_qa(str(shared_qa_dir / name)) == examples
    assert {e.dataset for e in examples} == {name}
    assert all(e.question and e.answers for e in examples)
    if name in ("hotpotqa", "2wikimultihopqa", "musique"):
        assert all(e.supporting_titles for e in examples)
        assert all(len(e.extra["contexts"]) >= 2 for e in examples)


# ---------------------------------------------------------------------------- errors


def test_bad_json_names_file_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        ['{"id": "1", "question": "q?", "answers": ["a"]}', '{"id": "2", "question": '],
    )
    with pytest.raises(QADataError, match=rf"{re.escape(str(path))}:2: invalid JSON"):
        load_qa(str(path))


def test_missing_answers_names_line(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "1", "question": "q?", "answers": ["a"]},
            "",
            {"id": "2", "question": "q2?"},
        ],
    )
    with pytest.raises(QADataError, match=r"d.jsonl:3: record has no 'answers' field"):
        load_qa(str(path))


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": "1", "question": "q?", "answers": []}, "'answers' has no non-empty answer"),
        ({"id": "1", "question": "q?", "answers": ["", "  "]}, "has no non-empty answer"),
        ({"id": "1", "question": "q?", "answers": [{"text": "a"}]}, "holds a dict"),
        ({"id": "1", "question": "q?", "answers": None}, "must be a string or a list"),
        ({"id": "1", "answers": ["a"]}, "'question' must be a non-empty string"),
        ({"id": "1", "question": "   ", "answers": ["a"]}, "'question' must be a non-empty"),
        ({"id": "1", "question": "q?", "golden_answers": "nope", "answer": "x"}, None),
    ],
)
def test_malformed_records(tmp_path, record, message):
    path = write_jsonl(tmp_path / "d.jsonl", [record])
    if message is None:  # a valid FlashRAG record: the negative control
        assert load_qa(str(path))[0].answers == ["nope"]
        return
    with pytest.raises(QADataError, match=re.escape(message)) as err:
        load_qa(str(path))
    assert "d.jsonl:1" in str(err.value)


def test_unrecognized_format_lists_fields_and_formats(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"q": "who?", "answer": "me"}])
    with pytest.raises(QADataError) as err:
        load_qa(str(path))
    message = str(err.value)
    assert "d.jsonl:1: unrecognized QA format" in message
    assert "['answer', 'q']" in message
    assert "golden_answers" in message and "reward_model" in message


def test_search_r1_without_target_or_question(tmp_path):
    path = tmp_path / "s.parquet"
    row = search_r1_row(0, "q?", ["a"])
    row["reward_model"] = {"style": "rule", "ground_truth": {"other": ["a"]}}
    pq.write_table(pa.Table.from_pylist([row]), path)
    with pytest.raises(QADataError, match=r"s.parquet row 1: .*reward_model.ground_truth.target"):
        load_qa(str(path))

    row = search_r1_row(0, "q?", ["a"])
    del row["question"]
    row["prompt"] = [{"role": "user", "content": "no marker here"}]
    pq.write_table(pa.Table.from_pylist([row]), path)
    with pytest.raises(QADataError, match="add a 'question' column"):
        load_qa(str(path))


def test_duplicate_ids_and_empty_files(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "x", "question": "a?", "answers": ["1"]},
            {"id": "x", "question": "b?", "answers": ["2"]},
        ],
    )
    with pytest.raises(QADataError, match=r"d.jsonl:2: duplicate id 'x'.*first at .*d.jsonl:1"):
        load_qa(str(path))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(QADataError, match="no QA records found"):
        load_qa(str(empty))


def test_spec_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTIC_RAG_DATA", str(tmp_path))
    with pytest.raises(QADataError, match=r"unknown QA dataset 'nosuch'.*AGENTIC_RAG_DATA"):
        load_qa("nosuch")
    with pytest.raises(QADataError, match="QA file not found"):
        load_qa(str(tmp_path / "missing.jsonl"))
    (tmp_path / "data.csv").write_text("id,question\n")
    with pytest.raises(QADataError, match=r"unsupported file type '.csv'; use .jsonl or .parquet"):
        load_qa(str(tmp_path / "data.csv"))
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "test.jsonl").write_text("")
    with pytest.raises(QADataError, match=r"has no dev.jsonl \(QA files there: \['test.jsonl'\]\)"):
        load_qa(str(tmp_path / "folder"))
    with pytest.raises(QADataError, match="limit must be a positive"):
        load_qa("nosuch", limit=0)
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("plain text")
    with pytest.raises(QADataError, match="not a readable parquet file"):
        load_qa(str(not_parquet))


def test_hub_name_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(QADataError, match=r"load 'RUC-NLPIR/FlashRAG_datasets:nq@test'.*Offline"):
        load_qa("RUC-NLPIR/FlashRAG_datasets:nq@test")
