"""baseline_answer: direct and naive replies of any model read as short answers.

The first table holds real replies of SmolLM2-135M-Instruct (greedy, the direct/naive prompts of
`agentic_rag.evaluation.modes`, shared dev questions); the second typical shapes of larger
instruct models. Each expected answer is what a reader would call the reply's answer.
"""

from __future__ import annotations

import pytest

from agentic_rag.evaluation.metrics import score_answer
from agentic_rag.rewards.extraction import baseline_answer

SMOLLM2_REPLIES = [
    # (question, reply, expected answer)
    (
        "who is the sixth president of the united states",
        "The sixth president of the United States is John Kerry.",
        "John Kerry",
    ),
    (
        "what are the main crops grown in the united states",
        "The main crops grown in the United States are corn, wheat, and soybeans.",
        "corn, wheat, and soybeans",
    ),
    (
        "When was the composer of Carol of the Bells born?",
        "The composer of Carol of the Bells was born in 1843.",
        "1843",
    ),
    (
        "Paul DeBoy is known for an appearance in the Western action-adventure game developed by "
        "which company?",
        "The answer to this question is: Paul DeBoy is known for an appearance in the Western "
        "action-adventure game developed by HBO.",
        "HBO",
    ),
    (
        "What other district is found in the same county as Gmina Stężyca?",
        "The answer to this question is: Gmina Stężyca.",
        "Gmina Stężyca",
    ),
    (
        "Do both Icehouse pieces and El Grande come from the same game?",
        "No, the Icehouse pieces and El Grande come from different games. The Icehouse pieces "
        "are a variation of the Icehouse game, while the El Grande is a variation of the El "
        "Grande game.",
        "no",
    ),
    (
        "What sport does Chertsey Town F.C. play?",  # "F.C." does not end the sentence
        "Chertsey Town F.C. is a professional soccer team based in Manchester, United Kingdom.",
        "a professional soccer team based in Manchester, United Kingdom",
    ),
    (
        "Who was the screenwriter for The Fog?",
        "The screenwriter for The Fog was John Hurt.",
        "John Hurt",
    ),
    (
        "Who was the last emperor of the dynasty that succeeded the Song dynasty?",
        "The last emperor of the dynasty that succeeded the Song dynasty was the last emperor "
        "of the Ming dynasty.",
        "Ming dynasty",
    ),
    (  # a choice question: the subject is one of the options, so the sentence stays whole
        "Which film has the director who died earlier, Captain Kidd And The Slave Girl or Relax "
        "Freddie?",
        "Captain Kidd And The Slave Girl is a classic example of a classic plot. Captain Kidd was "
        "a British pirate who was killed in 1720.",
        "Captain Kidd And The Slave Girl is a classic example of a classic plot",
    ),
    (  # "between A and B" is a choice too: the subject names an option
        "In between Berghuis v. Thompkins and Mississippi University for Women v. Hogan, which "
        "case was decided first?",
        "The case of Mississippi University for Women v. Hogan was not a case decided by the "
        "Supreme Court.",
        "The case of Mississippi University for Women v. Hogan was not a case decided by the "
        "Supreme Court",
    ),
    (  # only a lead-in: no answer
        "What American professional Hawaiian surfer born 18 October 1992 won the Rip Curl Pro "
        "Portugal?",
        "The answer to this question is:",
        None,
    ),
    (  # a quote closed after the sentence's period is not left behind
        "Jaroslav Kvapil the Czech poet was born in the Kingdom of Bohemia, also referred to by "
        "what name?",
        'The answer to the question is: "Jaroslav Kvapil the Czech poet was born in the Kingdom '
        'of Bohemia, also referred to by the name of Jaroslav Kvapil."',
        "the name of Jaroslav Kvapil",
    ),
    (
        "Jaroslav Kvapil the Czech poet was born in the Kingdom of Bohemia, also referred to by "
        "what name?",
        'The answer to this question is: "Kvapil"',
        "Kvapil",
    ),
    (  # no restatement: the first sentence of a reply cut at the token limit
        "Who was the producer of Frequency?",
        "The producer of Frequency was the American band The Black Eyres. They released their "
        "album",
        "American band The Black Eyres",
    ),
    (
        "Who is the paternal grandfather of Louis Iii, Count Of Blois?",
        "The paternal grandfather of Louis Iii, Count of Blois is the 18th-century Count of "
        "Blois, who was born in 1285.",
        "18th-century Count of Blois, who was born in 1285",
    ),
]


@pytest.mark.parametrize(("question", "reply", "expected"), SMOLLM2_REPLIES)
def test_smollm2_replies(question, reply, expected):
    assert baseline_answer(reply + "<|im_end|>", question) == expected


def test_normalization_turns_full_sentences_into_exact_matches():
    gold = {"John Hurt": ["John Hurt"], "1843": ["1843"], "no": ["no"]}
    for question, reply, expected in SMOLLM2_REPLIES:
        if expected in gold:
            assert score_answer(reply, gold[expected]).em == 0.0  # the raw reply never matches
            assert score_answer(baseline_answer(reply, question), gold[expected]).em == 1.0


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("The answer is Paris.", "Paris"),
        ("Answer: Paris", "Paris"),
        ("Answer:\nParis\n\nParis is the capital of France.", "Paris"),
        ("**Paris**", "Paris"),
        ('Sure! The answer is "Paris".', "Paris"),
        ("I think it is Paris. It has been the capital since 987.", "it is Paris"),
        ("Based on the given documents, Paris.", "Paris"),
        ("- Paris\n- Lyon", "Paris"),
        ("“J. K. Rowling”", "J. K. Rowling"),  # initials do not end the sentence
        ("Washington, D.C. is the capital.", "Washington, D.C. is the capital"),
        ("<think>France's capital...</think>\nParis", "Paris"),
        ("The final answer is: 1969", "1969"),
        ("Paris", "Paris"),
        ('He said "yes." Then he left.', 'He said "yes"'),
        ('"A" and "B"', '"A" and "B"'),
        ("It's 'Rome'", "It's 'Rome'"),  # apostrophes are not quotes
        ("Sure!", None),
    ],
)
def test_typical_instruct_replies(reply, expected):
    assert baseline_answer(reply) == expected


def test_yes_no_only_for_yes_no_questions():
    assert baseline_answer("Yes, both were astronauts.", "Were A and B astronauts?") == "yes"
    assert baseline_answer("No.", "Is Paris in Spain?") == "no"
    # "No" is not an answer word when the question does not ask yes or no
    assert baseline_answer("No one knows.", "Who built it?") == "No one knows"


def test_answer_tags_are_read_strictly():
    question = "Which city?"
    assert baseline_answer("<think>t</think>\n<answer> Paris </answer>.", question) == "Paris"
    assert baseline_answer("<answer>Rome</answer><answer>Paris</answer>", question) is None
    assert baseline_answer("It is <answer>Par", question) is None  # unclosed: no answer


@pytest.mark.parametrize("reply", ["", "   \n", "<|im_end|>", "<think>only thinking</think>"])
def test_empty_replies_have_no_answer(reply):
    assert baseline_answer(reply, "Which city?") is None


def test_the_answer_never_becomes_empty():
    # the reply only restates the question: something of it is always left
    assert baseline_answer("Paris is known for", "What is Paris known for?") == "for"
    assert baseline_answer("The city is", "Which city is it?") == "The city is"
    assert baseline_answer("Paris is Paris.", "Is Paris Paris?") == "Paris"


def test_hostile_replies_are_bounded():
    long = "word " * 20000 + "."
    assert baseline_answer(long, "What is the word?").startswith("word word")
    assert baseline_answer("." * 50000, "q?") is None
