"""The OpenAI-compatible wire's own words (``providers/openai.py``), the same on every Python."""

from __future__ import annotations

import http

import pytest

from luxx_nb.providers.openai import status_words


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (416, "Range Not Satisfiable"),
        (422, "Unprocessable Content"),
        (404, "Not Found"),
        (429, "Too Many Requests"),
    ],
)
def test_a_status_reads_with_its_rfc_9110_name_whatever_the_server_says(status, words):
    assert status_words(status, "Whatever The Server Said") == words
    assert status_words(status) == words


def test_a_status_python_does_not_know_keeps_the_servers_phrase():
    with pytest.raises(ValueError):
        http.HTTPStatus(529)
    assert status_words(529, "Overloaded") == "Overloaded"
    assert status_words(529) == ""
