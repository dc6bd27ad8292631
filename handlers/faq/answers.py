"""How an FAQ answer, a "Did you mean …?" and an honest "I don't know" look, in the neutral model.

File content is written by the change team, so its Markdown subset becomes Uptake's safe subset; entries added in
chat came from a person and are shown literally (`user_text` / `lit()`), so nobody can plant a disguised link.
"""

from __future__ import annotations

import re

from bot.model import Actions, Block, Button, Context, Message, Reply, Section, Style, lit
from handlers.faq.matcher import FaqEntry

MAX_QUESTION = 500

_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MARK = "\x02"


def markdown_to_safe(text: str) -> str:
    """Paragraphs, bullet lists, bold, italic and links of the content Markdown, in Uptake's safe subset."""
    text = text.strip().replace(_MARK, "")
    text = _HEADING.sub(lambda m: f"{_MARK}{m.group(1)}{_MARK}", text)
    text = _BULLET.sub(lambda m: m.group(1) + "• ", text)
    text = _BOLD.sub(lambda m: f"{_MARK}{m.group(1) or m.group(2)}{_MARK}", text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = text.replace(_MARK, "*")
    # Single line breaks inside a paragraph are Markdown soft breaks; bullets and blank lines stay.
    return re.sub(r"(?<=\S)\n(?!\n|\s*•|\s*\d+\.)(?=\S)", " ", text)


def confidence_cue(confidence: float) -> str:
    if confidence >= 0.9:
        word = "high"
    elif confidence >= 0.6:
        word = "good"
    else:
        word = "fair"
    return f"match {word} ({confidence:.0%})"


def title_of(entry: FaqEntry, added: bool) -> str:
    return lit(entry.question) if added else entry.question


def answer_blocks(entry: FaqEntry, added: bool) -> list[Block]:
    """The answer itself, then its links: file answers converted, added answers shown literally."""
    blocks: list[Block] = []
    if added:
        blocks.append(Section(heading=title_of(entry, True), user_text=entry.answer))
    else:
        blocks.append(Section(heading=entry.question, text=markdown_to_safe(entry.answer)))
    if entry.links:
        blocks.append(Section(text="\n".join(f"• [{link.title}]({link.url})" for link in entry.links)))
    return blocks


def feedback_buttons(question_id: int) -> Actions:
    qid = str(question_id)
    return Actions(
        buttons=(
            Button("👍 Helpful", "faq.helpful", qid),
            Button("👎 Not helpful", "faq.not_helpful", qid),
            Button("Ask a person", "faq.escalate", qid),
        )
    )


def answer_reply(question_id: int, entry: FaqEntry, confidence: float, added: bool, *, replace: bool = False) -> Reply:
    source = "added by the change team in chat" if added else f"FAQ entry `{entry.id}`"
    blocks = [
        *answer_blocks(entry, added),
        Context(f"Source: {source} · {confidence_cue(confidence)} · tell me if it helped"),
        feedback_buttons(question_id),
    ]
    return Reply(message=Message(text=f"Answer: {title_of(entry, added)}", blocks=tuple(blocks)), replace=replace)


def choice_buttons(question_id: int, matches: list[tuple[FaqEntry, bool]]) -> tuple[Button, ...]:
    return tuple(
        Button(_label(entry.question), "faq.show", f"{question_id}:{entry.id}") for entry, _added in matches[:3]
    )


def _label(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def suggest_reply(question_id: int, matches: list[tuple[FaqEntry, bool]]) -> Reply:
    lines = "\n".join(f"• {title_of(entry, added)}" for entry, added in matches)
    return Reply.say(
        "Did you mean one of these?",
        Section(heading="Did you mean …?", text=lines, buttons=choice_buttons(question_id, matches)),
        Context("I'm not sure enough to answer directly. Pick one, or ask a person."),
        Actions(buttons=(Button("None of these — ask a person", "faq.escalate", str(question_id)),)),
    )


def abstain_reply(question_id: int, close: list[tuple[FaqEntry, bool]]) -> Reply:
    blocks: list[Block] = [
        Section(
            text="I don't know the answer to that — I'd rather say so than guess. "
            "A person from the rollout team can answer it."
        )
    ]
    if close:
        blocks.append(
            Section(
                heading="Close, but maybe not what you asked",
                text="\n".join(f"• {title_of(e, a)}" for e, a in close),
                buttons=choice_buttons(question_id, close),
            )
        )
    blocks.append(Actions(buttons=(Button("Ask a person", "faq.escalate", str(question_id), style=Style.primary),)))
    return Reply.say("I don't know the answer to that yet.", *blocks)


def ask_help() -> Reply:
    return Reply.say(
        "Ask me anything about the rollout in your own words, e.g. `ask is the survey anonymous?` — or just type "
        "the question. If I don't know, I'll say so and a person can answer.",
        Context("Questions and whether answers helped are recorded to improve the FAQ."),
    )


def too_long() -> Reply:
    return Reply.say(
        f"That's a long question — please ask it in {MAX_QUESTION} characters or fewer (one question at a time "
        "works best). I haven't stored anything."
    )
