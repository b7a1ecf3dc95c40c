"""Simulated people of the demo season: who they are, what they answer, and the one call into the service."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from conversations import Incoming, Reply

CHANNEL = "console"
LIKED, DISLIKED, UNSURE = ("very_satisfied", "satisfied"), ("not_satisfied", "very_dissatisfied"), "dont_know"
AGES = {"child": ("a10_12", "a13_15"), "resident": ("a16_17", "a18_35", "a36_59", "a60")}
PROPOSALS = {
    "traffic": "Cổng trường em cần có vạch kẻ đường và biển báo giảm tốc độ.",
    "play": "Em mong xã có sân chơi cho thiếu nhi mở cửa vào dịp hè.",
    "drowning": "Em muốn được học bơi miễn phí vào mùa hè ở xã mình.",
    "roads": "Đường vào ấp em bị hư nhiều ổ gà, mùa mưa đi học rất khó.",
    "food_water": "Em mong trường có nước uống sạch cho học sinh mỗi ngày.",
    "online": "Em muốn được hướng dẫn cách dùng mạng an toàn ở trường.",
}
TURN_LIMIT = 80


@dataclass(frozen=True, slots=True)
class Persona:
    """One simulated person: commune, group, how satisfied they tend to be, and what else they do."""

    user: str
    commune: str
    group: str
    satisfaction: float
    quits_after: int | None
    proposes: str | None
    seed: int


async def say(service: Any, user: str, n: int, text: str | None = None, choice: str | None = None) -> list[Reply]:
    """Send one update as a console-like chat and collect the replies (the only call into the service's API)."""
    replies: list[Reply] = []

    async def send(reply: Reply) -> None:
        replies.append(reply)

    await service.handle(Incoming(CHANNEL, user, user, text=text, choice_id=choice, update_key=f"demo:{user}:{n}"),
                         send)
    return replies


def _choose(reply: Reply, wanted: str) -> str | None:
    """The choice id of an option of a question."""
    return next((c.id for c in reply.choices if c.id.split(":", 1)[1] == wanted), None)


def answer(person: Persona, question: Reply, rng: random.Random, answered: int) -> tuple[str | None, str | None]:
    """What a person does with a question: (typed text, option id); (None, None) to walk away."""
    key = question.key or ""
    options = [c.id.split(":", 1)[1] for c in question.choices]
    if key.startswith("survey.item."):
        if person.quits_after is not None and answered >= person.quits_after:
            return None, None
        roll = rng.random()
        option = UNSURE if roll < 0.04 else rng.choice(LIKED if roll < person.satisfaction else DISLIKED)
    elif key == "forum.text":
        return PROPOSALS.get(person.proposes or "", PROPOSALS["play"]), None
    else:
        picks = {"onboarding.intro": "start", "onboarding.role": person.group, "onboarding.commune": person.commune,
                 "onboarding.polls": "yes", "onboarding.polls_child": "yes", "forum.role": person.group,
                 "forum.age": rng.choice(AGES["child"]),
                 "onboarding.age_child": rng.choice(AGES["child"]), "onboarding.age_resident": rng.choice(
                     AGES["resident"]), "survey.comment": "skip", "survey.review": "submit",
                 "forum.topic": person.proposes or "play", "forum.commune": person.commune,
                 "forum.publish": rng.choice(("yes", "no")), "forum.review": "send"}
        option = picks.get(key, "agree")
    chosen = _choose(question, option) if option in options else None
    return (None, chosen) if chosen else (None, None)


async def live(service: Any, person: Persona) -> bool:
    """Take the survey (and perhaps file a proposal) through the real service; True when the survey was sent."""
    rng = random.Random(person.seed)
    n, answered, sent, proposing = 0, 0, False, False
    replies = await say(service, person.user, n, text="/start")
    for n in range(1, TURN_LIMIT):
        if any(r.key == "thanks" for r in replies):
            sent = True
            if person.proposes and not proposing:
                proposing = True
                replies = await say(service, person.user, n, text="/kiennghi")
                continue
        question = next((r for r in reversed(replies) if r.choices or r.key == "forum.text"), None)
        if question is None:
            break
        text, choice = answer(person, question, rng, answered)
        if text is None and choice is None:
            break
        answered += (question.key or "").startswith("survey.item.")
        replies = await say(service, person.user, n, text=text, choice=choice)
    return sent


def people(total: int, communes: list[tuple[str, float, float]], seed: int = 2025) -> list[Persona]:
    """`total` people spread over communes by weight: (code, weight, satisfaction); about 1 in 20 stops half-way."""
    rng = random.Random(seed)
    weights = sum(w for _, w, _ in communes)
    result: list[Persona] = []
    for code, weight, satisfaction in communes:
        count = max(1, round(total * weight / weights))
        for k in range(count):
            group = "child" if k % 9 < 5 else "resident"
            quits = rng.randint(2, 10) if rng.random() < 0.05 else None
            topic = rng.choice(sorted(PROPOSALS)) if group == "child" and rng.random() < 0.15 else None
            result.append(Persona(f"demo-{code}-{k}", code, group, satisfaction, quits, topic, rng.randrange(10**9)))
    rng.shuffle(result)
    return result[:total] if len(result) > total else result
