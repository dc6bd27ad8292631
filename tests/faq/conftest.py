"""A tiny FAQ that every FAQ test can fit in milliseconds."""

from __future__ import annotations

import pytest

from handlers.faq.model import FaqEntry
from tests.faq.scenario import cast, content_dir, faq_runtime  # noqa: F401  (FAQ conversation fixtures)


def entry(entry_id: str, question: str, *examples: str) -> FaqEntry:
    return FaqEntry(id=entry_id, question=question, examples=tuple(examples), answer=f"answer {entry_id}")


@pytest.fixture(scope="session")
def tiny_faq() -> list[FaqEntry]:
    return [
        entry(
            "verify-output",
            "How do I check that an AI answer is correct?",
            "How can I verify the output quickly?",
            "Is there a checklist to validate what the AI produced?",
            "how do I know the AI is right",
            "fact check the AI result",
        ),
        entry(
            "mute-notifications",
            "How do I turn off notifications?",
            "too many messages from the bot",
            "how do I mute this bot",
            "stop sending me reminders",
            "unsubscribe from notifications",
        ),
        entry(
            "office-hours",
            "When are the office hours?",
            "is there a drop-in session for questions",
            "how do I book office hours",
            "office hours schedule",
            "next Q&A session",
        ),
        entry(
            "data-incident",
            "I put data into the AI that I shouldn't have",
            "I accidentally pasted customer data",
            "I shared confidential info with the AI by mistake",
            "how do I report a data leak",
            "I entered a password in the prompt",
        ),
        entry(
            "job-security",
            "Will the AI replace my job?",
            "am I going to lose my job because of AI",
            "is this the first step to layoffs",
            "will they cut people after the rollout",
            "is my role at risk",
        ),
        entry(
            "survey-privacy",
            "Is the survey anonymous?",
            "who can see my survey answers",
            "are pulse surveys private",
            "will my manager see what I answered",
            "is the feedback survey confidential",
        ),
    ]
