"""The safety screen on the labelled corpus, its normaliser, the issue's examples, its file errors and its CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conversations.safety import Check, Screen, SignalFileError
from conversations.safety_model import ModelFileError, Scorer
from conversations.safety_training import Settings, fit, folds, threshold
from conversations.spelling import Speller, fold, key
from tests.support.safety_corpus import CORPUS, FRESH, Row, read, score

ROOT = Path(__file__).parent.parent
SCREEN = Screen.load()
ROWS = read()


FOURTH = "# Fourth fresh batch"
FIFTH = "# Fifth fresh batch"
SIXTH = "# Sixth fresh batch"
SEVENTH = "# Seventh fresh batch"
EIGHTH = "# Eighth fresh batch"
NINTH = "# Ninth fresh batch"
TENTH = "# Tenth fresh batch"
ELEVENTH = "# Eleventh fresh batch"
TWELFTH = "# Twelfth fresh batch"


def rows_before(comment: str) -> list[Row]:
    """The corpus rows above the comment line that opens a batch (a floor measured on them stays comparable)."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    above = lines[:next(n for n, line in enumerate(lines) if line.startswith(comment))]
    return ROWS[:sum(1 for line in above if line.strip() and not line.startswith("#"))]


def table(half: str) -> tuple[dict, str]:
    """Scores on one half, and the per-category table shown when an assertion fails."""
    scores = score(SCREEN.categories, [r for r in ROWS if r.split == half])
    return scores, "\n".join(f"{s.label:<14} {s.flagged:>3}/{s.total:<3} {s.rate:6.1%}  right category "
                             f"{s.right_category}" for s in scores.values())


@pytest.mark.parametrize("half", ["dev", "held"])
def test_corpus_half_recall_and_false_alarms(half: str) -> None:
    scores, shown = table(half)
    assert scores["disclosures"].rate >= 0.95, f"{half} recall too low\n{shown}"
    assert scores["harmless"].rate <= 0.05, f"{half} false alarms too high\n{shown}"


# The held rows written before each batch, and the recall and false alarms they may not fall below: what they
# measured on 2026-12-02 with the scorer's veto, the scorer quieted only by its own category's or common negatives
# and never once sure (Settings.sure), and the scorer retrained on the dev half of all twelve batches (94.1%/3.1%,
# 92.2%/3.0%, 93.1%/2.9%, 93.3%/2.8%, 93.9%/3.5%, 94.3%/3.4%, 94.5%/3.6%, 94.9%/3.6%, 94.9%/3.9%). Every floor of
# the morning (93%/4%, 91%/4%, 91.5%/4.4%, 92%/4.7%) holds; the retraining on twelve batches cost the rows before the
# fourth and the fifth one false alarm each and gained every subset recall. The false alarms of the rows before the
# sixth batch once rose from 5.87% to 6.03% (after the fifth batch's tuning; bench/README.md says so).
FLOORS = ((FOURTH, 0.94, 0.031), (FIFTH, 0.92, 0.03), (SIXTH, 0.93, 0.029), (SEVENTH, 0.93, 0.028),
          (EIGHTH, 0.935, 0.035), (NINTH, 0.94, 0.035), (TENTH, 0.94, 0.036), (ELEVENTH, 0.945, 0.037),
          (TWELFTH, 0.945, 0.039))


def test_held_half_does_not_fall_below_what_was_measured() -> None:
    scores, shown = table("held")
    assert scores["disclosures"].rate >= 0.95, shown  # measured 95.01% (1334/1404) with the twelfth batch
    assert scores["harmless"].rate <= 0.042, shown  # measured 4.13% (54/1309); each new batch's held half moves it
    for batch, recall, false_alarms in FLOORS:
        before = score(SCREEN.categories, [r for r in rows_before(batch) if r.split == "held"])
        assert before["disclosures"].rate >= recall and before["harmless"].rate <= false_alarms, (batch, before)


def test_fresh_messages_never_trained_on_meet_the_hidden_set_aim() -> None:
    fresh = read(FRESH)
    assert {r.split for r in fresh} == {"fresh"} and len(fresh) == 60
    assert not {r.text for r in fresh} & {r.text for r in ROWS}
    scores = score(SCREEN.categories, fresh)
    assert scores["disclosures"].rate >= 0.9 and scores["harmless"].rate <= 0.1, scores


def test_the_scorer_catches_what_no_pattern_does_and_says_so() -> None:
    text = "em xin lỗi má, con hông làm được gì nên hồn, con đi đây"
    assert SCREEN.with_scorer(None).check(text) == Check((), ())
    found = SCREEN.check(text)
    assert found.categories == ("self_harm",)
    (matched,) = found.matched
    name, probability = matched.split()
    assert name == "model:self_harm" and SCREEN.scorer and float(probability) >= SCREEN.scorer.threshold


def test_a_negative_context_quiets_the_scorer_too() -> None:
    assert SCREEN.scorer is not None
    confident = Scorer(SCREEN.scorer.labels, SCREEN.scorer.bias, SCREEN.scorer.weights, 0.0)
    screen = SCREEN.with_scorer(confident)
    assert screen.categories("hôm nay em đi học") != ()
    assert screen.categories("Em đề nghị tuyên truyền phòng chống xâm hại tình dục") == ()


def test_only_a_negative_of_the_scorers_category_or_a_common_one_quiets_it(tmp_path: Path) -> None:
    signals = write(tmp_path, '[common]\nunless = ["trời mưa"]\n'
                              '[[categories]]\nid = "violence"\npatterns = ["đánh đập"]\nunless = ["đánh cờ"]\n'
                              '[[categories]]\nid = "threat"\npatterns = ["dằn mặt"]\nunless = ["đá bóng"]\n')
    words = {"w:hom": 0.0, "w:nay": 0.0, "w:em": 0.0, "w:buon": 6.0}  # features are bare words: "buồn" says violence
    scorer = Scorer(("none", "threat", "violence"), [2.0, 0.0, 0.0], {f: [0.0, 0.0, w] for f, w in words.items()}, 0.5)
    screen = Screen.load(signals, model=None).with_scorer(scorer)
    assert screen.check("hôm nay em buồn").categories == ("violence",)
    assert screen.check("hôm nay em đá bóng buồn").categories == ("violence",)  # threat's negative: not its business
    assert screen.check("hôm nay em đánh cờ buồn") == Check((), ())  # violence's own negative
    assert screen.check("hôm nay trời mưa em buồn") == Check((), ())  # a common negative


def test_a_sure_scorer_is_not_quieted_and_is_asked_when_negatives_quiet_every_pattern(tmp_path: Path) -> None:
    signals = write(tmp_path, '[[categories]]\nid = "violence"\npatterns = ["đánh đập"]\nunless = ["đánh cờ"]\n'
                              '[[categories]]\nid = "threat"\npatterns = ["dằn mặt"]\nunless = ["dằn mặt đội bạn"]\n')
    words = {"w:hom": 0.0, "w:nay": 0.0, "w:em": 0.0, "w:buon": 6.0, "w:lam": 4.0}
    scorer = Scorer(("none", "threat", "violence"), [2.0, 0.0, 0.0], {f: [0.0, 0.0, w] for f, w in words.items()},
                    0.5, sure=0.99)
    screen = Screen.load(signals, model=None).with_scorer(scorer)
    assert screen.check("hôm nay em đánh cờ buồn") == Check((), ())  # 0.98: its own negative quiets it
    assert screen.check("hôm nay em đánh cờ buồn lắm") == Check(("violence",), ("model:violence 1.00",))
    assert screen.with_scorer(None).check("hôm nay em bị dằn mặt đội bạn buồn") == Check((), ())
    assert screen.check("hôm nay em bị dằn mặt đội bạn buồn").categories == ("violence",)  # threat's negative
    assert screen.check("hôm nay em bị dằn mặt đội bạn") == Check((), ())  # the scorer is not confident


def test_the_model_file_keeps_the_veto_and_sure_and_an_older_file_has_neither(tmp_path: Path) -> None:
    assert SCREEN.scorer is not None and SCREEN.scorer.sure == Settings().sure < 1
    kept = tmp_path / "model.json"
    kept.write_text(json.dumps({**SCREEN.scorer.document(), "veto": 0.01, "sure": 0.995}), encoding="utf-8")
    assert (Scorer.load(kept).veto, Scorer.load(kept).sure) == (0.01, 0.995)
    older = {k: v for k, v in SCREEN.scorer.document().items() if k not in ("veto", "sure")}
    kept.write_text(json.dumps(older), encoding="utf-8")
    assert (Scorer.load(kept).veto, Scorer.load(kept).sure) == (0.0, 1.0)


def test_the_scorer_vetoes_a_pattern_only_when_all_but_sure_and_only_after_judging() -> None:
    assert SCREEN.scorer is not None and SCREEN.scorer.veto == Settings().veto > 0
    text = "con mèo bị kẹt trên mái nhà, ba leo lên cứu nó"
    assert SCREEN.with_scorer(None).categories(text) == ("danger",)
    found = SCREEN.scorer.score(SCREEN.speller.keys(text))
    assert found.category and found.probability < SCREEN.scorer.veto
    assert SCREEN.check(text) == Check((), ("model:none overrules danger",))
    never = Scorer(SCREEN.scorer.labels, SCREEN.scorer.bias, SCREEN.scorer.weights, SCREEN.scorer.threshold, 0.0)
    assert SCREEN.with_scorer(never).categories(text) == ("danger",)
    short = "cứu tui"  # too few words for the scorer to judge: the pattern stands
    assert SCREEN.scorer.score(SCREEN.speller.keys(short)).category == ""
    assert SCREEN.categories(short) == ("danger",)


def test_training_is_deterministic_and_its_threshold_keeps_harmless_scores_below() -> None:
    dev = [(r.label, r.text) for r in ROWS if r.split == "dev"]
    small = [e for e, f in zip(dev, folds(dev, 4), strict=True) if f == 0]
    quick = Settings(epochs=3)
    one, two = fit(SCREEN.speller, small, quick), fit(SCREEN.speller, small, quick)
    assert one.document() == two.document() and "none" in one.labels
    scores = [("", 0.9), ("", 0.2), ("", 0.5), ("", 0.1)]
    cut = threshold([("none", "a"), ("none", "b"), ("x", "c"), ("none", "d")], scores, 0.34)
    assert 0.2 < cut < 0.9


def test_a_broken_model_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text('{"format": 0}', encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"model\.json.*xtt safety train"):
        Screen.load(model=bad)


def test_corpus_is_big_varied_and_split() -> None:
    labels = {r.label for r in ROWS}
    assert labels >= {"sexual_abuse", "violence", "neglect", "confinement", "self_harm", "trafficking",
                      "child_labour", "child_marriage", "accident", "threat", "none"}
    assert sum(r.label != "none" for r in ROWS) >= 300 and sum(r.label == "none" for r in ROWS) >= 300
    assert len({r.text for r in ROWS}) == len(ROWS)
    for label in labels:
        halves = [r.split for r in ROWS if r.label == label]
        assert abs(halves.count("dev") - halves.count("held")) <= 1, label
    assert sum(r.text.isascii() for r in ROWS if r.label != "none") >= 40  # written without accents


@pytest.mark.parametrize(("old", "new"), [("doạ", "dọa"), ("hoà", "hòa"), ("thuý", "thúy"), ("khoẻ", "khỏe")])
def test_tone_mark_placement_does_not_matter(old: str, new: str) -> None:
    assert key(old) == key(new) and old != new


def test_decomposed_unicode_reads_like_composed() -> None:
    import unicodedata
    text = "em bị đánh"
    assert SCREEN.speller.keys(unicodedata.normalize("NFD", text)) == SCREEN.speller.keys(text)


def test_laughter_faces_read_as_a_word_and_a_sour_smile_does_not() -> None:
    read = SCREEN.speller.keys
    assert read("chị dọa xử em =))") == read("chị dọa xử em haha") == read("chị dọa xử em :))")
    assert read("ổn mà :)") == read("ổn mà") and read("vui :v") == read("vui haha")
    patterns = SCREEN.with_scorer(None)  # the face quiets the patterns; the scorer is not what this tests
    assert patterns.categories("thằng bạn dọa 'tao giết mày' vì em ăn mất gói snack của nó =))") == ()
    assert patterns.categories("thằng bạn dọa 'tao giết mày' vì em ăn mất gói snack của nó") == ("threat",)


@pytest.mark.parametrize(("typed", "meant"), [
    ("ko", "không"), ("k", "không"), ("hk", "không"), ("hok", "không"), ("hông", "không"), ("j", "gì"),
    ("bít", "biết"), ("đc", "được"), ("dc", "được"), ("wá", "quá"), ("mún", "muốn"), ("e", "em"), ("a", "anh"),
    ("ổng", "ông ấy"), ("bả", "bà ấy"), ("dìa", "về"),
])
def test_teen_spelling_expands(typed: str, meant: str) -> None:
    assert SCREEN.speller.keys(typed) == [key(w) for w in meant.split()]


@pytest.mark.parametrize(("typed", "meant"), [("chếtttt", "chết"), ("cứuuuu", "cứu"), ("sợợợ", "sợ"),
                                               ("huhuuuu", "huhu")])
def test_repeated_letters_collapse(typed: str, meant: str) -> None:
    assert key(typed) == key(meant)


def test_a_letter_that_differs_only_by_its_vowel_mark_stays() -> None:
    assert key("cứu") != key("cứ") and key("cuu") == key(fold("cứu"))


def test_accents_or_none() -> None:
    assert SCREEN.categories("em bị ba đánh") == SCREEN.categories("em bi ba danh") == ("violence",)
    assert SCREEN.categories("EM BỊ BA ĐÁNH") == ("violence",)


def test_accented_message_reads_bare_words_as_themselves() -> None:
    speller = Speller({})
    assert speller.read("em trai em rớt xuống sông")[1] and not speller.read("em trai em rot xuong song")[1]


@pytest.mark.parametrize(("text", "category"), [
    ("em bị anh họ hiếp", "sexual_abuse"), ("em ko muốn sống nữa", "self_harm"), ("em mun chết quá", "self_harm"),
    ("em uống hết vỉ thuốc của ngoại rồi", "self_harm"), ("Dượng em hay sờ vào chỗ kín của em", "sexual_abuse"),
    ("có người dụ em gửi ảnh khỏa thân", "trafficking"),
    ("anh quen trong game rủ em đi làm trên thành phố lương cao", "trafficking"),
    ("ba nhốt em trong chuồng heo", "confinement"), ("nó mới té xuống mương", "accident"),
])
def test_issue_misses_are_caught(text: str, category: str) -> None:
    assert category in SCREEN.categories(text)


@pytest.mark.parametrize("text", [
    "em bị đánh thức lúc 5 giờ", "chết cười với bạn", "trời nóng muốn chết", "em di tu tu thoi",
    "tụi em chơi bi da", "đội em bị đá phạt đền", "Em đề nghị tuyên truyền phòng chống xâm hại tình dục",
    "Xã cần xóa bỏ tảo hôn", "em đánh cầu lông với ba", "muốn chết cười với nó",
])
def test_issue_false_alarms_stay_quiet(text: str) -> None:
    assert SCREEN.categories(text) == ()


@pytest.mark.parametrize(("text", "category"), [
    ("chu xe om cho em ve roi so nguc em", "sexual_abuse"),  # "cho" is not "chó": "(gà|chó) ... em" stays out
    ("co nguoi tren mang doi em gui anh khoa than", "trafficking"),  # "co" is có, not cô giáo sending class photos
    ("chi em moi 15 da bi bat lam vo", "child_marriage"),  # "vo" typed bare is vợ as well as vô
    ("hôm qua e lấy dao rọc giấy khứa tay", "self_harm"), ("mai là ngày cuối cùng của em", "self_harm"),
    ("có người bắt em quay clip rồi đòi tiền, không thì tung lên mạng", "trafficking"),
])
def test_bare_and_indirect_disclosures_are_caught(text: str, category: str) -> None:
    assert category in SCREEN.categories(text)


@pytest.mark.parametrize("text", [
    "em bi thay danh thuc day som",  # "bị (@adult) ... (@hit)" keyed on "bị": its last word "đánh" is covered
    "em bi ong dot sung tay", "con cho nha em bi xe tong roi", "em bi co la vi khong lam bai tap, lan sau em lam",
    "e xin 111 la so gi vay a", "tui bi ban gai da roi, buon ghe", "ba ke chuyen ma lam em so khong dam ngu",
    "em bị cảm, mẹ mua thuốc cho uống rồi", "bạn em cho em mượn cây bút", "anh em đi bộ đội rồi, em nhớ anh",
    "em ăn no rồi, không ăn nữa",
])
def test_bare_text_ambiguities_stay_quiet(text: str) -> None:
    assert SCREEN.categories(text) == ()


def test_a_negative_context_reads_a_bare_word_only_as_its_usual_readings(tmp_path: Path) -> None:
    signals = write(tmp_path, '[readings]\nco = ["có"]\n[[categories]]\nid = "trafficking"\n'
                              'patterns = ["gửi ảnh"]\nunless = ["(cô|thầy) ... gửi ảnh", "cô giáo gửi ảnh"]\n')
    screen = Screen.load(signals, model=None)
    assert screen.categories("cô nói gửi ảnh") == () and screen.categories("thay noi gui anh") == ()
    assert screen.categories("co nguoi noi gui anh") == ("trafficking",)  # có người, not cô
    assert screen.categories("co giao gui anh") == ()  # in a phrase of its own "co" keeps every reading
    with pytest.raises(SignalFileError, match=r"\[readings\] 'co'.*e\.g\. co"):
        Screen.load(write(tmp_path, '[readings]\nco = "có"\n[[categories]]\nid = "x"\npatterns = ["a"]\n'))


def test_check_tells_what_fired_and_is_frozen() -> None:
    found = SCREEN.check("ba nhốt em trong chuồng heo")
    assert isinstance(found, Check) and found.categories == ("confinement",)
    assert found.matched and all(isinstance(m, str) for m in found.matched)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.categories = ()  # type: ignore[misc]
    assert SCREEN.check("") == Check((), ()) and SCREEN.check("😀😀") == Check((), ())


def test_negative_context_only_hides_what_it_overlaps() -> None:
    assert SCREEN.categories("trời nóng muốn chết. em muốn chết thật sự") == ("self_harm",)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "signals.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "names"), [
    ('[[categories]]\nid = "violence"\npatterns = ["(bố|mẹ đánh"]\n', ["signals.toml", "violence", "(bố|mẹ đánh",
                                                                       "add ')'"]),
    ('[[categories]]\nid = "violence"\npatterns = ["@boss đánh"]\n', ["violence", "@boss", "[sets]"]),
    ('[[categories]]\nid = "violence"\npatterns = ["... đánh"]\n', ["violence", "cannot start"]),
    ('[[categories]]\nid = "Bạo lực"\npatterns = ["đánh"]\n', ["category 1", "lower-case English"]),
    ('[[categories]]\nid = "violence"\n', ["violence", "no patterns"]),
    ('[[categories]]\nid = "violence"\npatterns = ["đánh"]\n[[categories]]\nid = "violence"\npatterns = ["đập"]\n',
     ["twice"]),
    ('[[categories]]\nid = "violence"\npatterns = ["đánh"\n', ["signals.toml", "not valid TOML"]),
    ('[sets]\nme = "em"\n[[categories]]\nid = "violence"\npatterns = ["đánh"]\n', ["[sets]", "'me'", "list"]),
])
def test_file_errors_name_the_file_the_entry_and_the_fix(tmp_path: Path, body: str, names: list[str]) -> None:
    with pytest.raises(SignalFileError) as caught:
        Screen.load(write(tmp_path, body))
    for name in names:
        assert name in str(caught.value)


def test_an_officer_can_add_a_pattern_a_set_and_a_negative_context(tmp_path: Path) -> None:
    screen = Screen.load(write(tmp_path, '[sets]\nkin = ["dượng", "cậu"]\n[spelling]\n"dượng" = ["dg"]\n'
                                         '[[categories]]\nid = "violence"\npatterns = ["(@kin) ... đánh [@kin] em"]\n'
                                         'unless = ["(@kin) dạy em đánh em"]\n'))
    assert screen.categories("dg hay danh em") == ("violence",)
    assert screen.categories("cậu dạy em đánh em") == ()
    assert screen.categories("cậu dạy em đánh em. dượng đánh em") == ("violence",)


def test_cli_check_reads_lines_and_prints_json_lines(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XTT_", "DATABASE_"))}
    env["XTT_DATA_DIR"] = str(tmp_path / "nowhere")
    done = subprocess.run([sys.executable, "-m", "bot", "safety", "check"], input="em bi ba danh\nEm đánh răng\n",
                          capture_output=True, text=True, encoding="utf-8", cwd=ROOT, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["text"] == "em bi ba danh" and first["categories"] == ["violence"] and first["matched"]
    assert second == {"text": "Em đánh răng", "categories": [], "matched": []}
    assert not (tmp_path / "nowhere").exists()


def test_cli_trains_a_model_that_check_then_uses(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.tsv"
    kept = [r for r in ROWS if r.label in ("self_harm", "none") and "cứu" not in r.text][:300]
    lines = [f"{r.label}\t{r.split}\t{r.text}" for r in kept]  # a self-harm message first: no pattern can flag it
    corpus.write_text("# a small corpus\n" + "\n".join(lines) + "\n", encoding="utf-8")
    model, signals = tmp_path / "model.json", write(tmp_path, '[[categories]]\nid = "danger"\npatterns = ["cứu"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XTT_", "DATABASE_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "safety", "train", "--corpus", str(corpus), "--out",
                           str(model), "--signals", str(signals)],
                          capture_output=True, text=True, encoding="utf-8", cwd=ROOT, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(model.read_text(encoding="utf-8"))
    assert doc["labels"] == ["none", "self_harm"] and "dev half" in doc["trained_on"] and 0 < doc["threshold"] < 1
    assert doc["veto"] == Settings().veto
    assert Screen.load(model=model).scorer.labels == ("none", "self_harm")  # type: ignore[union-attr]
    for flags, has_model in (([], True), (["--no-model"], False)):
        done = subprocess.run([sys.executable, "-m", "bot", "safety", "check", "--model", str(model), "--signals",
                               str(signals), *flags], input=lines[0].split("\t")[2] + "\n", capture_output=True,
                              text=True, encoding="utf-8", cwd=ROOT, env=env, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        matched = json.loads(done.stdout)["matched"]
        assert any(m.startswith("model:") for m in matched) == has_model, matched


def test_cli_names_a_broken_signal_file_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    bad = write(tmp_path, '[[categories]]\nid = "violence"\npatterns = ["(đánh"]\n')
    assert main(["safety", "check", "--signals", str(bad)]) == 2
    assert "signals.toml" in capsys.readouterr().err


@pytest.mark.parametrize("typed", ["5", "1.", "ok", "Hài lòng", "hai long"])
def test_the_scorer_says_nothing_on_a_few_words_typed_at_a_question(typed: str) -> None:
    # Without evidence the scorer's answer is the corpus prior, and the corpus is half disclosures:
    # "5" typed at a survey question once scored 0.85 "sexual abuse".
    assert SCREEN.check(typed) == Check((), ())
    keys, _ = SCREEN.speller.read(typed)
    assert SCREEN.scorer is not None and SCREEN.scorer.score(keys).probability == 0.0
