"""The LLM tasks beyond labels (names, translations, embeddings) against the local fake server.

Both official SDKs talk over HTTP to :mod:`tests.llm_server` on 127.0.0.1: batching, the cache,
retries and the one-line error for an embeddings model that does not exist.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics_framework.enrich import make_labeler
from analytics_framework.enrich.base import LabelCache, LabelStats
from analytics_framework.enrich.tasks import embed_texts, name_clusters, translate
from analytics_framework.errors import ConfigurationError
from analytics_framework.settings import Settings
from tests.llm_server import FakeLLM

FAST = {
    "llm_backoff_initial_s": 0.05,
    "llm_backoff_max_s": 0.2,
    "llm_timeout_s": 2.0,
    "llm_max_attempts": 3,
    "llm_rpm": 0,
}


@pytest.fixture(scope="module")
def server():
    with FakeLLM() as srv:
        yield srv


@pytest.fixture
def llm(server, monkeypatch):
    server.script.clear()
    server.requests.clear()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test")
    monkeypatch.setenv("ANALYTICS_GEMINI_BASE_URL", server.url)
    return server


def labeler(provider: str):
    return make_labeler(Settings(**FAST), provider)


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_cluster_names_are_asked_in_batches_and_cached(llm, provider, tmp_path):
    clusters = {
        f"s{i}": {"examples": [f"Hey <name> script number {i} here", "another"]} for i in range(12)
    }
    cache = LabelCache(tmp_path / "cache.sqlite3")
    stats = LabelStats()
    names, failures = name_clusters(labeler(provider), clusters, "script", cache=cache, stats=stats)
    assert failures == {}
    assert names["s3"] == {"name": "Name: Hey <name> script", "description": "2 examples seen"}
    assert len(llm.requests) == 2  # 10 clusters per request
    assert stats.input_tokens > 0
    again, _ = name_clusters(labeler(provider), clusters, "script", cache=cache)
    assert again == names
    assert len(llm.requests) == 2  # all from the cache


def test_a_reply_missing_a_cluster_is_asked_again_for_it(llm):
    llm.script[:] = ["missing"]
    clusters = {"a": {"examples": ["one"]}, "b": {"examples": ["two"]}}
    names, failures = name_clusters(labeler("openai"), clusters, "persona")
    assert set(names) == {"a", "b"} and failures == {}
    assert [len(r["ids"]) for r in llm.requests] == [2, 1]


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_translations_give_every_message_of_a_conversation(llm, provider):
    convs = {
        "c1": [("m1", "hola, necesito ayuda", "es"), ("m2", "claro", "es")],
        "c2": [("m3", "bonjour", "fr")],
    }
    done, failures = translate(labeler(provider), convs)
    assert failures == {}
    assert done == {
        "c1": {"m1": "[en] hola, necesito ayuda", "m2": "[en] claro"},
        "c2": {"m3": "[en] bonjour"},
    }


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_embeddings_are_unit_vectors_in_order_and_cached(llm, provider, tmp_path):
    texts = [f"refund please order {i}" for i in range(150)] + ["love the new shoes"]
    cache = LabelCache(tmp_path / "cache.sqlite3")
    lab = labeler(provider)
    model = type(lab).default_embed_model
    stats = LabelStats()
    vectors = embed_texts(lab, texts, model=model, dimensions=32, cache=cache, stats=stats)
    assert vectors.shape == (151, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [r["texts"] for r in llm.requests] == [100, 51]
    assert stats.input_tokens > 0
    # similar texts are closer than different ones
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[150]
    again = embed_texts(lab, texts, model=model, dimensions=32, cache=cache)
    assert np.array_equal(again, vectors)
    assert len(llm.requests) == 2


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_an_embeddings_model_that_does_not_exist_is_one_line_naming_it(llm, provider):
    with pytest.raises(ConfigurationError) as exc:
        embed_texts(labeler(provider), ["hello"], model="no-such-embedder")
    text = str(exc.value)
    assert "'no-such-embedder'" in text and "404" in text
    assert "EMBED_MODEL" in exc.value.fix and "\n" not in text


def test_embeddings_retry_a_500(llm):
    llm.script[:] = ["500"]
    vectors = embed_texts(labeler("openai"), ["a text"], model="text-embedding-3-small")
    assert vectors.shape[0] == 1
    assert [r["behaviour"] for r in llm.requests] == ["500", "ok"]


def test_a_rejected_embeddings_request_is_not_blamed_on_the_model(llm):
    llm.script[:] = ["400"]
    with pytest.raises(ConfigurationError) as exc:
        embed_texts(labeler("openai"), ["hello"], model="text-embedding-3-small")
    assert "rejected an embeddings request" in str(exc.value)
    assert "EMBED_MODEL" not in exc.value.fix and "\n" not in str(exc.value)


def test_identical_texts_are_embedded_once(llm):
    texts = ["hi, I saw your ad"] * 250 + ["where is my parcel"]
    vectors = embed_texts(labeler("openai"), texts, model="text-embedding-3-small", dimensions=16)
    assert vectors.shape == (251, 16)
    assert [r["texts"] for r in llm.requests] == [2]
    assert np.array_equal(vectors[0], vectors[249]) and not np.array_equal(vectors[0], vectors[250])
