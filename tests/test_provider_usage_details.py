"""The details of a usage (cached prompt and reasoning tokens, OpenAI's system fingerprint) in every wire format,
unstreamed and streamed, over real HTTP against the fake provider.

The billed totals are read as before: the same answer with and without details costs the same. A hostile count
that is billed (Anthropic's cache reads, Gemini's thoughts) is what a hostile total is (a ProviderProtocolError:
nothing billed, the pool may retry); a hostile detail that is not billed apart reads as 0 and the answer is
delivered; a count larger than the total it is part of is shown as that total; a fingerprint that is not a short
printable text is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from fakeprovider.testing import RunningFakeProvider
from schemas.events import UsageRecorded, decode, encode
from tests import test_provider_hostile as unstreamed
from tests import test_provider_streams as streamed
from tests.provider_harness import (
    clean_fake_fixture,  # noqa: F401
    client_fixture,  # noqa: F401
    fake_fixture,  # noqa: F401
    provider_call,
)
from tests.test_provider_hostile import ABSURD_COUNTS
from workers.providers.base import ProviderProtocolError, ProviderResult
from workers.providers.client import ProviderClient
from workers.providers.streams.contract import StreamPiece
from workers.providers.wire import FINGERPRINT_CHARS_MAX, TOKEN_COUNT_MAX

PROMPT = "tell me about the sea, the tides and the moon"
# The fake's knobs that script the details, and the same answer with none.
DETAILED = {"output_tokens": 4, "reasoning_tokens": 5, "cache_read_tokens": 3}
PLAIN = {"output_tokens": 4}


@dataclass(frozen=True)
class Way:
    """One wire format, called unstreamed or streamed."""

    wire: str
    stream: bool

    @property
    def model(self) -> str:
        if self.stream:
            return streamed.KINDS[self.wire][3]
        return next(w for w in unstreamed.WIRES if w.name == self.wire).model

    @property
    def reasoning_on_the_wire(self) -> bool:
        """Anthropic folds thinking into output_tokens without a counter of its own."""
        return self.wire != "anthropic"

    @property
    def fingerprint_on_the_wire(self) -> bool:
        return self.wire in ("openai", "openai_compatible")


WAYS = [
    Way(wire, stream) for wire in ("openai", "openai_compatible", "anthropic", "gemini") for stream in (False, True)
]
EVERY_WAY = pytest.mark.parametrize("way", WAYS, ids=[f"{w.wire}-{'stream' if w.stream else 'plain'}" for w in WAYS])


async def answer(way: Way, fake: RunningFakeProvider, client: ProviderClient, **knobs: Any) -> ProviderResult:
    fake.set_scenario(way.model, **knobs)
    if not way.stream:
        wire = next(w for w in unstreamed.WIRES if w.name == way.wire)
        return await unstreamed.adapter(wire, fake, client).complete(unstreamed.call(wire))

    async def sink(piece: StreamPiece) -> None:
        pass

    call = provider_call(way.model, (("user", PROMPT),), 50)
    return await streamed.adapter(way.wire, fake, client).stream(call, sink)


@EVERY_WAY
async def test_the_details_are_read_and_the_billed_totals_are_those_of_the_same_answer_without_them(
    way: Way, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    plain = await answer(way, fake, client, **PLAIN)
    detailed = await answer(way, fake, client, **DETAILED)

    assert (plain.cached_input_tokens, plain.reasoning_tokens) == (0, 0)
    assert detailed.cached_input_tokens == 3
    assert detailed.reasoning_tokens == (5 if way.reasoning_on_the_wire else 0)
    # The whole prompt either way (Anthropic's input_tokens leaves the cache read out: it is added back); the
    # reasoning is output, spent on top of the same 4 visible tokens.
    assert detailed.input_tokens == plain.input_tokens
    assert (plain.output_tokens, detailed.output_tokens) == (4, 9)
    expected = "fp_fakeprovider" if way.fingerprint_on_the_wire else None
    assert plain.system_fingerprint == detailed.system_fingerprint == expected


# Each way's detail counters (Anthropic has no reasoning counter to be hostile in).
COUNTERS = [
    (way, knob)
    for way in WAYS
    for knob in ("usage_cached_tokens", "usage_reasoning_tokens")
    if knob == "usage_cached_tokens" or way.reasoning_on_the_wire
]


def billed(way: Way, knob: str) -> bool:
    """Whether the counter is part of the sum that is billed (not only a detail of it)."""
    return (way.wire, knob) in (("anthropic", "usage_cached_tokens"), ("gemini", "usage_reasoning_tokens"))


BILLED = [(way, knob) for way, knob in COUNTERS if billed(way, knob)]
DETAILS_ONLY = [(way, knob) for way, knob in COUNTERS if not billed(way, knob)]


def _ids(cases: list[tuple[Way, str]]) -> list[str]:
    return [f"{w.wire}-{'stream' if w.stream else 'plain'}-{k}" for w, k in cases]


@pytest.mark.parametrize(("way", "knob"), BILLED, ids=_ids(BILLED))
@pytest.mark.parametrize("count", ABSURD_COUNTS, ids=repr)
async def test_a_billed_count_no_provider_could_mean_is_a_protocol_error(
    way: Way, fake: RunningFakeProvider, client: ProviderClient, knob: str, count: object
) -> None:
    with pytest.raises(ProviderProtocolError) as caught:
        await answer(way, fake, client, **DETAILED, **{knob: count})

    assert caught.value.retriable is True
    assert "token count" in caught.value.message


@pytest.mark.parametrize(("way", "knob"), DETAILS_ONLY, ids=_ids(DETAILS_ONLY))
@pytest.mark.parametrize("count", ABSURD_COUNTS, ids=repr)
async def test_a_detail_no_provider_could_mean_reads_as_zero_and_the_answer_is_billed_as_without_it(
    way: Way, fake: RunningFakeProvider, client: ProviderClient, knob: str, count: object
) -> None:
    plain = await answer(way, fake, client, **PLAIN)
    hostile = await answer(way, fake, client, **DETAILED, **{knob: count})

    detail = hostile.cached_input_tokens if knob == "usage_cached_tokens" else hostile.reasoning_tokens
    assert detail == 0
    assert hostile.input_tokens == plain.input_tokens
    assert hostile.output_tokens == 9
    assert hostile.text


@EVERY_WAY
async def test_a_cached_count_past_the_prompt_shows_the_whole_prompt(
    way: Way, fake: RunningFakeProvider, client: ProviderClient
) -> None:
    result = await answer(way, fake, client, **DETAILED, usage_cached_tokens=TOKEN_COUNT_MAX // 2)

    if way.wire == "anthropic":
        # Anthropic's cache reads are part of the sum that is the prompt: billed, as they always were.
        assert result.input_tokens > TOKEN_COUNT_MAX // 2
        assert result.cached_input_tokens == TOKEN_COUNT_MAX // 2
    else:
        assert result.input_tokens < 100
        assert result.cached_input_tokens == result.input_tokens


@pytest.mark.parametrize("way", [w for w in WAYS if w.wire == "openai"], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("fp_44709d6fcb", "fp_44709d6fcb"),
        ("f" * FINGERPRINT_CHARS_MAX, "f" * FINGERPRINT_CHARS_MAX),
        ("f" * (FINGERPRINT_CHARS_MAX + 1), None),
        ("fp\x00x", None),
        ("fp\nx", None),
        ("\u2028", None),
        ("", None),
        (7, None),
        (["fp_x"], None),
        ({"fp": 1}, None),
        (True, None),
    ],
    ids=repr,
)
async def test_a_fingerprint_is_kept_only_when_short_and_printable(
    way: Way, fake: RunningFakeProvider, client: ProviderClient, sent: object, kept: str | None
) -> None:
    result = await answer(way, fake, client, **DETAILED, system_fingerprint=sent)

    assert result.system_fingerprint == kept
    # Nothing else about the answer changed: a strange fingerprint is never a reason to fail it.
    assert (result.cached_input_tokens, result.reasoning_tokens, result.output_tokens) == (3, 5, 9)


def test_the_details_cross_the_wire_and_an_older_usage_reads_as_none() -> None:
    detailed = UsageRecorded(
        workspace_id="ws",
        job_id="job",
        outcome="completed",
        input_tokens=7,
        output_tokens=9,
        cached_input_tokens=3,
        reasoning_tokens=5,
        system_fingerprint="fp_x",
    )
    again = decode(UsageRecorded, encode(detailed))
    assert (again.cached_input_tokens, again.reasoning_tokens, again.system_fingerprint) == (3, 5, "fp_x")
    # Unknown details are left out: the event is then exactly an older worker's, and reads as no details.
    older = encode(UsageRecorded(workspace_id="ws", job_id="job", outcome="completed", input_tokens=7))
    assert b"cached_input_tokens" not in older and b"reasoning_tokens" not in older and b"fingerprint" not in older
    read = decode(UsageRecorded, older)
    assert (read.cached_input_tokens, read.reasoning_tokens, read.system_fingerprint) == (0, 0, None)
