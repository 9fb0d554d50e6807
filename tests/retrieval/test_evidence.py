"""Page furniture is never evidence."""

import pytest

from retrieval.evidence import is_boilerplate, is_citable


@pytest.mark.parametrize(
    "text",
    [
        "عين اليوم – هيفاء عبدالله",
        "هيفاء عبدالله – عين اليوم",
        "Next Previous عين اليوم – جدة",
        "a.khojah@asharqalawsat.com",
        "للتواصل مع الكاتب ارسل رسالة SMS تبدأ بالرمز (20) ثم مسافة ثم نص الرسالة إلى 88591",
        "الرياض 5 شوال 1436 هـ الموافق 21 يوليو 2015 م واس",
        "// انتهى //",
        "...المزيد",
        "اقرأ أيضا:",
        "تصوير: خالد",
        "(Getty)",
        "By John Smith",
        "* * *",
        "قولوا بقولكموا ولا تستعجلوا *** فالفوز حظ القائلين صوابا",
        "http://sabq.org/sabq/user/articles.do?id=897",
    ],
)
def test_furniture(text: str) -> None:
    assert is_boilerplate(text)


@pytest.mark.parametrize(
    "text",
    [
        "قتل 5 أشخاص في حريق بجدة أمس.",
        "الرياض - أعلنت وزارة الصحة عن 5 إصابات جديدة بكورونا.",
        "أطلقت الشركة موقعها www.x.com لخدمة العملاء في كل المناطق",
        "أتاحت الاتصالات السعودية STC لعملائها الاطلاع على تفاصيل فواتيرهم.",
        "The north pier reopened on Monday after repairs.",
    ],
)
def test_news(text: str) -> None:
    assert not is_boilerplate(text)


def test_a_passage_is_citable_when_one_of_its_sentences_is() -> None:
    assert is_citable("عين اليوم – جدة\nقتل 5 أشخاص في حريق بجدة أمس.")
    assert not is_citable("عين اليوم – جدة\na.khojah@asharqalawsat.com")
