"""Who the customers are: one vector per customer, K-means into personas.

**Vectors** (one per customer, from the messages they wrote — role ``customer`` — in the
conversations started in the range, joined in time order and cut at :data:`TEXT_MAX_CHARS`):

- with an LLM provider, its embeddings (Gemini ``embed_content``, OpenAI ``embeddings.create``:
  :func:`~analytics_framework.enrich.tasks.embed_texts`, batched, cached, retried, tokens and
  cost counted), :data:`~analytics_framework.enrich.tasks.EMBED_DIMENSIONS` dimensions;
- offline (the default without a key), latent semantic analysis: scikit-learn ``TfidfVectorizer``
  (sublinear tf, English stop words, words of 2+ letters, terms in at least 2 customers once there
  are 50) then ``TruncatedSVD`` to at most :data:`SVD_COMPONENTS` dimensions — the method of
  scikit-learn's "Clustering text documents using k-means" example.

Vectors are L2-normalised, so Euclidean K-means groups by cosine similarity.

**Clusters**: ``KMeans(n_clusters=k, n_init=10, random_state=RANDOM_STATE)`` over customers in
``customer_id`` order, so a run on the same lake gives the same personas. ``k`` defaults to 5;
``auto`` tries :data:`AUTO_K` and keeps the k with the best silhouette score (ties: the smaller).
The silhouette (Rousseeuw 1987; ``sklearn.metrics.silhouette_score``, Euclidean on the unit
vectors, on a seeded sample of at most :data:`SILHOUETTE_SAMPLE` customers) is reported.
Personas are numbered 1..k by size (largest first; ties by their first customer id).

**GPU**: where the ``cuml`` package (RAPIDS) is installed and ``cupy`` sees a CUDA device, the
K-means fits run on the GPU (``cuml.cluster.KMeans``, same k, n_init and seed); everything else
(TF-IDF, SVD, silhouette, naming) runs on the CPU. Without them it runs on the CPU
(scikit-learn), with no error: the device used is logged and stored with the build.

**Names**: offline, a persona is named by the three terms that most set its customers apart
(the centroid's TF-IDF weights minus the mean of all customers) and described by the top six;
with an LLM provider, the model names and describes it from those terms and its most typical
messages (:func:`~analytics_framework.enrich.tasks.name_clusters`).

Each customer's row (:data:`~analytics_framework.model.PERSONA_SCHEMA`) goes to the lake's
``personas`` table (partitioned by the day of their first conversation in the range; a build
replaces the table) and, with MongoDB, to ``user_analytics`` (``persona`` of ``customer:<id>``).
The ``personas`` report adds what the labels say: topics, objections, sentiment, conversion.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import polars as pl

from analytics_framework.dates import day_range_utc
from analytics_framework.errors import ConfigurationError, LakeError
from analytics_framework.model import PERSONA_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.query import connect, day_filter, started_in

log = logging.getLogger(__name__)

RANDOM_STATE = 42
"""Seed of K-means, the SVD and the silhouette sample: the same lake gives the same personas."""
DEFAULT_K = 5
AUTO_K = range(2, 9)
"""The k tried by ``--k auto`` (fewer where there are fewer customers)."""
TEXT_MAX_CHARS = 4000
"""A customer's messages are cut here (about 1,000 tokens: within every embeddings model)."""
QUOTE_MAX_CHARS = 300
"""A customer's quote (their longest message) is cut here."""
SVD_COMPONENTS = 100
"""Dimensions of the offline vectors (fewer when there are fewer customers or terms)."""
SILHOUETTE_SAMPLE = 3000
"""The silhouette is computed on a seeded sample of this many customers at most."""
TERMS = 6
"""Terms kept per persona (its description); the first three name it offline."""


@dataclass
class PersonaBuild:
    """One build: a row per customer and what was found.

    Attributes:
        rows: :data:`~analytics_framework.model.PERSONA_SCHEMA` rows plus ``year``/``month``/
            ``day`` (the customer's first conversation's partition).
        personas: per persona (1..k): ``persona_id, name, description, terms, customers``.
        k: the number of personas; ``silhouette`` its score (−1…1).
        scores: k → silhouette for every k tried (one entry unless ``--k auto``).
        method: ``tfidf-svd`` or ``embeddings``; ``model`` the embeddings model or the SVD size.
        device: ``cuda`` or ``cpu`` (where K-means ran).
        skipped: customers left out because their messages hold no word (offline: no term
            left after stop words and rare-term pruning).
        seconds: wall time of reading the lake, vectors and clustering (naming excluded).
        unnamed: personas the provider's namer could not name (they keep their offline name).
    """

    rows: pl.DataFrame
    personas: list[dict[str, Any]]
    k: int
    silhouette: float
    scores: dict[int, float]
    method: str
    model: str
    device: str
    skipped: int
    seconds: float
    unnamed: int = 0


def read_customers(
    lake: Lake,
    start: date | None,
    end: date | None,
    org: str | None,
    timezone: str,
    use_translations: bool = False,
) -> pl.DataFrame:
    """Return one row per customer with messages in the conversations started in the range.

    Columns ``customer_id, org_id, text`` (their messages in time order, newline-joined, cut at
    :data:`TEXT_MAX_CHARS`), ``quote`` (their longest message, cut at :data:`QUOTE_MAX_CHARS`),
    ``messages``, ``year, month, day`` (their first conversation's partition); ordered by
    ``customer_id``.

    Raises:
        LakeError: the lake has no messages.
    """
    if not lake.exists("messages"):
        raise LakeError(f"the lake at {lake.uri} has no messages", "run analytics collect first")
    where = day_filter("conversations", "first", "last")
    params = started_in(start, end, org, timezone)
    sql = f"""
        SELECT c.customer_id, c.org_id, c.started_at, c.year, c.month, c.day,
               m.conversation_id, m.message_id, m.sent_at, m.text
        FROM (
            SELECT conversation_id, message_id, sent_at, text, year, month, day
            FROM messages AS conversations WHERE role = 'customer' AND {where}
        ) AS m
        JOIN (
            SELECT conversation_id, customer_id, org_id, started_at, year, month, day
            FROM conversations
            WHERE customer_id IS NOT NULL
              AND ($start IS NULL OR started_at >= $start)
              AND ($end IS NULL OR started_at < $end)
              AND ($org IS NULL OR org_id = $org)
              AND {where}
        ) AS c USING (conversation_id)
    """
    con = connect(lake)
    try:
        frame = con.execute(sql, params).pl()
    finally:
        con.close()
    if use_translations:
        from analytics_framework.insights.translations import english_text

        frame = english_text(lake, frame)
    text = pl.col("text").fill_null("")
    first = pl.col("started_at").arg_min()
    return (
        frame.sort("customer_id", "sent_at", "message_id")
        .group_by("customer_id", maintain_order=True)
        .agg(
            org_id=pl.col("org_id").get(first),
            text=text.str.join("\n").str.slice(0, TEXT_MAX_CHARS),
            quote=text.get(text.str.len_chars().arg_max()).str.slice(0, QUOTE_MAX_CHARS),
            messages=pl.len(),
            year=pl.col("year").get(first),
            month=pl.col("month").get(first),
            day=pl.col("day").get(first),
        )
        .sort("customer_id")
    )


def offline_vectors(tfidf: Any) -> np.ndarray:
    """Return unit LSA vectors (float32) of a TF-IDF matrix: ``TruncatedSVD`` then L2 norm.

    Raises:
        LakeError: the messages hold fewer than 2 distinct words.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    dims = min(SVD_COMPONENTS, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
    if dims < 1:
        raise LakeError(
            "the customers' messages hold fewer than 2 distinct words",
            "widen --start-date/--end-date or --org: personas need customers who wrote",
        )
    svd = TruncatedSVD(n_components=dims, random_state=RANDOM_STATE)
    return normalize(svd.fit_transform(tfidf)).astype(np.float32)


def _tfidf(texts: list[str]) -> tuple[Any, np.ndarray]:
    """Return the TF-IDF matrix (sparse, customers × terms) and its terms."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        stop_words="english",
        token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
        min_df=2 if len(texts) >= 50 else 1,
        max_df=0.95 if len(texts) >= 50 else 1.0,
        max_features=50_000,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # an empty vocabulary
        raise LakeError(
            "the customers' messages hold no words to compare",
            "widen --start-date/--end-date or --org: personas need customers who wrote",
        ) from None
    return matrix, vectorizer.get_feature_names_out()


def gpu_available() -> bool:
    """Return True where ``cuml`` is installed and ``cupy`` sees a CUDA device."""
    if importlib.util.find_spec("cuml") is None or importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:  # noqa: BLE001 - no driver, no device: the CPU it is
        return False


def kmeans(vectors: np.ndarray, k: int, device: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Fit K-means (k clusters, 10 inits, :data:`RANDOM_STATE`).

    Returns:
        (labels, centres, the device that ran it): ``device`` ``cuda`` uses cuML on the GPU; a
        cuML failure falls back to the CPU (logged) and says ``cpu``.
    """
    if device == "cuda":
        try:
            import cupy
            from cuml.cluster import KMeans as GpuKMeans

            model = GpuKMeans(n_clusters=k, n_init=10, random_state=RANDOM_STATE)
            model.fit(cupy.asarray(vectors))
            labels = cupy.asnumpy(cupy.asarray(model.labels_)).astype(np.int64)
            centres = cupy.asnumpy(cupy.asarray(model.cluster_centers_))
            return labels, centres, "cuda"
        except Exception as exc:  # noqa: BLE001 - the CPU path gives the same kind of answer
            log.warning("K-means on the GPU failed (%s); running it on the CPU", exc)
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=10, random_state=RANDOM_STATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate points: the distinct count is checked first
        labels = model.fit_predict(vectors)
    return labels.astype(np.int64), model.cluster_centers_, "cpu"


def silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Return the silhouette score (−1…1), over at most :data:`SILHOUETTE_SAMPLE` customers.

    Beyond that, each cluster gives its share of a seeded sample, and at least two members, so
    a tiny cluster is never left out (scikit-learn refuses a sample holding one cluster).
    """
    from sklearn.metrics import silhouette_score

    present = np.unique(labels)
    if len(present) < 2:
        return 0.0
    n = len(vectors)
    if n > SILHOUETTE_SAMPLE:
        rng = np.random.default_rng(RANDOM_STATE)
        picks = []
        for c in present:
            members = np.flatnonzero(labels == c)
            take = min(len(members), max(2, round(SILHOUETTE_SAMPLE * len(members) / n)))
            picks.append(rng.choice(members, size=take, replace=False))
        keep = np.sort(np.concatenate(picks))
        vectors, labels = vectors[keep], labels[keep]
    return float(silhouette_score(vectors, labels))


def _enough(n: int, k: int, what: str) -> None:
    """Raise the one-line error for ``n`` customers (or distinct texts) and ``k`` personas.

    K-means needs more points than clusters (the silhouette needs k ≤ n − 1). ``what`` has
    a ``{n}`` for the count.

    Raises:
        LakeError: ``n`` ≤ ``k``, naming the k to give instead.
    """
    if n > k:
        return
    raise LakeError(
        f"{what.format(n=n)}, too few for {k} personas",
        f"give --k {n - 1} or less, or widen --start-date/--end-date or --org"
        if n >= 3
        else "widen --start-date/--end-date or --org: personas need at least 3 customers who "
        "wrote different texts",
    )


def parse_k(value: str | int | None) -> int | None:
    """Return the k asked for (None: ``auto``).

    Raises:
        ConfigurationError: not a whole number ≥ 2 or ``auto``.
    """
    if value is None:
        return DEFAULT_K
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 2:
        raise ConfigurationError(
            f"--k {value!r} is not a number of personas", "give 2 or more, or auto"
        )
    return int(text)


def top_terms(tfidf: Any, terms: np.ndarray, labels: np.ndarray, k: int) -> list[list[str]]:
    """Per cluster, the :data:`TERMS` terms whose mean TF-IDF most exceeds the overall mean."""
    overall = np.asarray(tfidf.mean(axis=0)).ravel()
    out = []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        mean = np.asarray(tfidf[rows].mean(axis=0)).ravel() if len(rows) else overall
        lift = mean - overall
        order = np.lexsort((terms, -lift))  # highest lift first, ties by term
        out.append([str(terms[i]) for i in order[:TERMS] if lift[i] > 0])
    return out


def build(
    lake: Lake,
    *,
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    timezone: str = "UTC",
    k: int | None = DEFAULT_K,
    embed: Any = None,
    namer: Any = None,
    named_by: str = "local",
    device: str = "auto",
    use_translations: bool = False,
) -> PersonaBuild:
    """Group the customers of the conversations started in the range into k personas.

    Args:
        lake: the lake (``conversations`` and ``messages`` are read).
        start: first local day of the conversations' start (None: open).
        end: the local day after the last one, excluded (None: open).
        org: only this organisation's conversations.
        timezone: the IANA zone of ``start`` / ``end``.
        k: personas wanted; None picks k in :data:`AUTO_K` by silhouette.
        embed: ``(texts) -> unit vectors`` from a provider (None: offline TF-IDF + SVD), with
            attribute ``model`` naming the embeddings model.
        namer: ``(clusters) -> {persona: {"name", "description"}}`` from a provider (None:
            offline names from the top terms).
        named_by: what named them, stored with the build.
        device: ``auto`` (the GPU where cuML sees one), or ``cpu``.
        use_translations: embed the English text of translated messages.

    Raises:
        LakeError: no customer with messages, or fewer customers than personas asked for.
        ConfigurationError: a bad ``device``; from ``embed``, a model that does not exist.
    """
    if device not in ("auto", "cpu"):
        raise ConfigurationError(f"unknown --device {device!r}", "use auto or cpu")
    lake.require("conversations")
    t0 = time.perf_counter()
    customers = read_customers(lake, start, end, org, timezone, use_translations)
    has_words = customers["text"].str.contains(r"[^\W\d_]{2,}")
    skipped = int((~has_words).sum())
    customers = customers.filter(has_words)
    wanted = k if k is not None else min(AUTO_K)
    _enough(customers.height, wanted, "only {n} customers wrote in the range given")
    tfidf, terms = _tfidf(customers["text"].to_list())
    if embed is None:  # no term left after stop words and pruning: a zero vector, left out
        kept = np.asarray(tfidf.getnnz(axis=1)) > 0
        skipped += int((~kept).sum())
        customers, tfidf = customers.filter(pl.Series(kept)), tfidf[kept]
    n = customers.height
    _enough(n, wanted, "only {n} customers wrote in the range given")
    texts = customers["text"].to_list()
    if embed is None:
        vectors = offline_vectors(tfidf)
        method, model = "tfidf-svd", f"tfidf-svd-{vectors.shape[1]}"
    else:
        vectors = embed(texts)
        method, model = "embeddings", str(getattr(embed, "model", "embeddings"))
    distinct = len(np.unique(vectors, axis=0))
    _enough(distinct, wanted, "the customers in the range wrote only {n} distinct texts")
    used = "cuda" if device == "auto" and gpu_available() else "cpu"
    candidates = [k] if k is not None else [c for c in AUTO_K if c < distinct]
    scores: dict[int, float] = {}
    fits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for c in candidates:
        labels, centres, used = kmeans(vectors, c, used)  # a GPU failure: the CPU from then on
        fits[c] = labels, centres
        scores[c] = silhouette(vectors, labels)
    log.info("K-means ran on %s (%s)", used, "cuML" if used == "cuda" else "scikit-learn")
    best = max(candidates, key=lambda c: (round(scores[c], 6), -c))
    labels, centres = fits[best]
    seconds = time.perf_counter() - t0

    # number personas 1..k by size, ties by their first customer id (customers are sorted)
    sizes = np.bincount(labels, minlength=best)
    first = {int(c): int(np.flatnonzero(labels == c)[0]) for c in range(best) if sizes[c]}
    order = sorted(first, key=lambda c: (-sizes[c], first[c]))
    number = {c: i + 1 for i, c in enumerate(order)}
    distance = np.linalg.norm(vectors - centres[labels], axis=1)
    terms_of = top_terms(tfidf, terms, labels, best)
    personas = []
    for c in order:
        words = terms_of[c]
        personas.append(
            {
                "persona_id": number[c],
                "name": " · ".join(words[:3]) or f"persona {number[c]}",
                "description": (
                    f"customers whose messages stand out for: {', '.join(words)}"
                    if words
                    else "customers with no distinctive words"
                ),
                "terms": words,
                "customers": int(sizes[c]),
                "cluster": c,
                "named_by": "local",
            }
        )
    unnamed = 0
    if namer is not None:
        quotes = customers["quote"].to_list()
        clusters = {}
        for p in personas:
            members = np.flatnonzero(labels == p["cluster"])
            nearest = members[np.argsort(distance[members], kind="stable")]
            examples = list(dict.fromkeys(quotes[i] for i in nearest[:64]))[:8]  # distinct
            clusters[str(p["persona_id"])] = {
                "examples": examples,
                "terms": p["terms"],
                "customers": p["customers"],
            }
        named_now = namer(clusters)
        for pid, named in named_now.items():
            p = personas[int(pid) - 1]
            p["name"], p["description"] = named["name"], named["description"]
            p["named_by"] = named_by
        unnamed = len(personas) - len(named_now)
    lo, hi = day_range_utc(start, end, timezone)
    by_cluster = {p["cluster"]: p for p in personas}
    build_id = uuid.uuid4().hex[:12]
    score = scores[best]
    rows = customers.select("customer_id", "org_id", "quote", "messages", "year", "month", "day")
    rows = rows.with_columns(
        persona_id=pl.Series([number[int(c)] for c in labels], dtype=pl.Int64),
        persona_name=pl.Series([by_cluster[int(c)]["name"] for c in labels], dtype=pl.String),
        persona_description=pl.Series(
            [by_cluster[int(c)]["description"] for c in labels], dtype=pl.String
        ),
        persona_terms=pl.Series(
            [", ".join(by_cluster[int(c)]["terms"]) for c in labels], dtype=pl.String
        ),
        distance=pl.Series(distance.astype(np.float64), dtype=pl.Float64),
        k=pl.lit(len(personas), dtype=pl.Int64),
        silhouette=pl.lit(score, dtype=pl.Float64),
        method=pl.lit(method),
        model=pl.lit(model),
        device=pl.lit(used),
        random_state=pl.lit(RANDOM_STATE, dtype=pl.Int64),
        named_by=pl.Series([by_cluster[int(c)]["named_by"] for c in labels], dtype=pl.String),
        range_start=pl.lit(lo, dtype=PERSONA_SCHEMA["range_start"]),
        range_end=pl.lit(hi, dtype=PERSONA_SCHEMA["range_end"]),
        range_org=pl.lit(org, dtype=pl.String),
        build_id=pl.lit(build_id),
        built_at=pl.lit(datetime.now(UTC)),
    )
    rows = rows.select(
        *(pl.col(c).cast(t) for c, t in PERSONA_SCHEMA.items()), "year", "month", "day"
    )
    for p in personas:
        p.pop("cluster")
    return PersonaBuild(
        rows=rows,
        personas=personas,
        k=len(personas),
        silhouette=score,
        scores=scores,
        method=method,
        model=model,
        device=used,
        skipped=skipped,
        seconds=seconds,
        unnamed=unnamed,
    )


def store(lake: Lake, result: PersonaBuild) -> list[Partition]:
    """Replace the lake's ``personas`` table with ``result``; returns the partitions written."""
    return lake.replace_table("personas", result.rows)
