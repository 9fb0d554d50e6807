"""Which questions lean on the reader's previous one."""

import pytest

from retrieval.followup import is_followup


@pytest.mark.parametrize(
    "question",
    [
        "And how many of them were children?",
        "what about Jordan?",
        "in Riyadh?",
        "who is he?",
        "why?",
        "who attended?",
        "any casualties?",
        "وكم منهم أطفال؟",
        "ماذا عن الأردن؟",
        "والسودان؟",
        "كم عددهم؟",
        "متى حدث ذلك؟",
        "إيش قال بعد فوزه؟",
        "في أي سنة؟",
        "طيب وأمس؟",
    ],
)
def test_a_question_that_cannot_stand_alone_is_a_followup(question: str) -> None:
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    [
        # "what is / who is": the pronoun is a copula, the question names its subject
        "ما هي نسبة الدين الحكومي في منطقة اليورو؟",
        "ما هو سعر البنزين في الإمارات؟",
        "من هو وزير الصحة السعودي؟",
        "من هي رئيسة جامعة أكسفورد الجديدة؟",
        "وزير الصحة الجديد من هو؟",  # و here is a root letter, not "and"
        "What is Aramco and what are its profits?",
        "Who won the regional football cup?",
        "Yemen?",
        "Who is Putin?",
        "what is the capital of Yemen",
        "أسعار النفط؟",
    ],
)
def test_a_question_that_names_its_subject_stands_alone(question: str) -> None:
    assert not is_followup(question)


def test_followup_detection() -> None:
    assert is_followup("And how many of them were children?")
    assert is_followup("وكم منهم أطفال؟")
    assert is_followup("ماذا عن الأردن؟")
    assert not is_followup("Who won the regional football cup?")
    assert not is_followup("من فاز بكأس المنطقة لكرة القدم؟")
