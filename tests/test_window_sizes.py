"""The context size a server reports (``providers/sizes.py``, ``Provider.reported_context``):
read in vLLM's and llama.cpp's shapes, asked beside a turn's first request (never before it),
and used to fit every later request, so that such a server refuses none."""

from __future__ import annotations

import asyncio
import time

import pytest
from support.builders import hang, json_response
from test_window_cells import CELLS, LIMIT, counted, paragraphs, size

from luxx_nb import Chat
from luxx_nb.config import Endpoint
from luxx_nb.providers.sizes import context_from_models, context_from_props, props_url
from luxx_nb.ready import provider_for

KEY = "sk-test-canary-sizes-0123456789abcdef"


def vllm_models(context: int) -> dict:
    """vLLM's ``/v1/models``: each model with its ``max_model_len``."""
    other = {"id": "other", "object": "model", "max_model_len": 999_999}
    return {
        "object": "list",
        "data": [other, {"id": "m", "object": "model", "max_model_len": context}],
    }


def test_the_shapes_servers_report_their_context_in():
    assert context_from_models(vllm_models(4_096), "m") == 4_096
    only = {"data": [{"id": "served-name", "max_model_len": 8_192}]}
    assert context_from_models(only, "m") == 8_192  # the only model, under another name
    assert context_from_models(vllm_models(4_096), "absent") is None  # two models, neither named
    assert context_from_models({"data": [{"id": "m"}]}, "m") is None  # OpenAI's list: no size
    assert context_from_models({"data": [{"id": "m", "max_model_len": True}]}, "m") is None
    assert context_from_models([], "m") is None and context_from_models({"data": "x"}, "m") is None
    assert context_from_props({"default_generation_settings": {"n_ctx": 2_048}}) == 2_048
    assert context_from_props({"default_generation_settings": {"n_ctx": "2048"}}) is None
    assert context_from_props({"n_ctx": 2_048}) is None
    assert props_url("http://h:8080/v1/") == "http://h:8080/props"
    assert props_url("https://api.example.com/openai") is None


def reported(provider, model: str = "m") -> int | None:
    """What ``provider.reported_context`` says of ``model``, in a client of its own."""

    async def ask() -> int | None:
        async with provider.client() as client:
            return await provider.reported_context(client, model)

    return asyncio.run(ask())


@pytest.mark.parametrize("shape", ["vllm", "llama.cpp"])
def test_a_reported_context_fits_every_later_request_and_none_is_refused(llm_server, shape):
    if shape == "vllm":
        llm_server.answers["/v1/models"] = json_response(vllm_models(LIMIT // 4))
    else:
        props = {"default_generation_settings": {"n_ctx": LIMIT // 4}}
        llm_server.answers["/props"] = json_response(props)
    # Answers 60 ms long, as a model's are: the size is asked while the first one streams.
    chat = paragraphs(llm_server, delay=0.02)
    assert chat.last_window.left_out and chat.last_window.budget == LIMIT // 4
    assert len(llm_server.requests) == CELLS
    assert all(size(r.body) <= LIMIT for r in llm_server.requests)  # none refused


def test_a_server_that_reports_nothing_is_asked_once_and_costs_one_refusal(llm_server):
    paragraphs(llm_server, delay=0.02)
    assert len([r for r in llm_server.requests if size(r.body) > LIMIT]) == 1
    assert sorted(llm_server.gets) == ["/props", "/v1/models"]  # once, not every turn


def test_a_server_slow_to_say_its_size_delays_no_answer(llm_server):
    llm_server.answers["/v1/models"] = hang(3)
    llm_server.answers["/props"] = hang(3)
    llm_server.script(counted)
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY)
    started = time.monotonic()
    reply = chat.send("hi")
    took = time.monotonic() - started
    assert reply.error is None and reply.text and took < 2.5, took  # not waiting the 3 s hang
    assert chat.last_window.budget is None  # no size known


def test_other_wires_ask_nothing(llm_server):
    llm_server.answers["/v1/models"] = json_response(vllm_models(4_096))
    assert (
        reported(provider_for(Endpoint(base_url=llm_server.base_url, api="anthropic"), None))
        is None
    )
    assert reported(provider_for(Endpoint(base_url=llm_server.base_url), None)) == 4_096


def test_a_server_that_cannot_be_reached_reports_nothing_and_raises_nothing():
    provider = provider_for(Endpoint(base_url="http://127.0.0.1:9/v1", api_key=KEY), 0.5)
    assert reported(provider) is None
