"""Slack's Block Kit limits, enforced in this one place so nothing Uptake sends is ever rejected by Slack.

Sources: docs.slack.dev/reference/block-kit/blocks, …/block-elements, …/composition-objects and
…/views/modal-views (see ../shared/reference/platform-rules.md R21/R22). Long content is split into more
blocks or messages, or cut with a visible "…more"; never dropped silently.
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100  # modals and the App Home
SECTION_TEXT = 3000
CONTEXT_TEXT = 3000
FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
MODAL_TITLE = 24
MODAL_BUTTON = 24  # submit / close labels
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ACTION_ID = 255
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
PLACEHOLDER = 150
LABEL = 2000
HINT = 2000
INPUT_MAX_LENGTH = 3000
PRIVATE_METADATA = 3000
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
FALLBACK_TEXT = 4000  # Slack truncates `text` at 40,000; notifications show far less
# Slack answers `msg_blocks_too_long` at roughly 13,200 characters of block text even when every documented
# limit holds (bolt-js#2509), so a message is also split by its total text size.
MESSAGE_CHARS = 11000
MAX_MESSAGES = 5  # a response_url takes at most 5 posts; more than that is cut with "…more"

MORE = "…more"


def clip(text: str, limit: int) -> str:
    """Cut to `limit` characters with a visible ellipsis (never mid-way through an escape entity)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:] and len(cut) - amp <= 5:
        cut = cut[:amp]
    return cut + "…"


def split_text(text: str, limit: int = SECTION_TEXT) -> list[str]:
    """Split long mrkdwn into pieces of at most `limit` characters, at line breaks, then spaces, when possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
            amp = rest.rfind("&", 0, cut)
            if amp >= 0 and ";" not in rest[amp:cut] and cut - amp <= 5:
                cut = amp
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n ") if cut < len(rest) else ""
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def block_chars(block: dict[str, Any]) -> int:
    """The visible text size of one rendered block (for the total-size split)."""
    total = 0
    stack: list[Any] = [block]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("text"), str):
                total += len(item["text"])
            stack.extend(v for k, v in item.items() if k != "text" or not isinstance(v, str))
        elif isinstance(item, list):
            stack.extend(item)
    return total


def more_block(text: str = MORE) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def split_message(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Chunks of at most MESSAGE_BLOCKS blocks and MESSAGE_CHARS characters; each non-last chunk ends with a
    "…more" line; beyond MAX_MESSAGES the rest is cut with a visible note."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for block in blocks:
        chars = block_chars(block)
        current = chunks[-1]
        if current and (len(current) >= MESSAGE_BLOCKS - 1 or size + chars > MESSAGE_CHARS):
            current.append(more_block())
            chunks.append([])
            size = 0
        chunks[-1].append(block)
        size += chars
    if len(chunks) > MAX_MESSAGES:
        dropped = sum(len(c) - 1 for c in chunks[MAX_MESSAGES:]) + 1
        chunks = chunks[:MAX_MESSAGES]
        chunks[-1][-1] = more_block(f"{MORE} ({dropped} more parts not shown; ask me for less at a time)")
    return chunks


def fit_view(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most VIEW_BLOCKS blocks in a modal or the App Home; the cut is visible."""
    if len(blocks) <= VIEW_BLOCKS:
        return blocks
    hidden = len(blocks) - (VIEW_BLOCKS - 1)
    return [*blocks[: VIEW_BLOCKS - 1], more_block(f"{MORE} ({hidden} more not shown)")]
