"""The ``personas`` report: its declaration (the SQL is ``reports/sql/personas.sql``).

Who the customers are, from the lake's ``personas`` table (the last ``analytics personas``
build: :mod:`analytics_framework.insights.personas`): per persona, its name, description and
distinctive terms, its size and share, what its customers' conversations are about (top topics
and objections from the labels), their sentiment, resolution and conversion to won, three
example quotes, and the build's k, silhouette, vectors and device. ``analytics personas``
builds the table and prints this report; ``analytics report personas`` reads the last build.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Report

REPORT: Report | None = Report(
    name="personas",
    sql_file="personas.sql",
    description="customer personas (K-means over their messages): size, name, topics, "
    "objections, sentiment, conversion, quotes (needs analytics personas)",
    keys=("period", "persona_id"),
    requires=("personas",),
    optional=("labels",),
    by=(),
    example="analytics report personas",
    columns=(
        Column("period", "from", "date", description="first day of the range"),
        Column("persona_id", "persona", "count", description="1..k, largest first"),
        Column("name", "name", "text", "persona", "LLM name, or its three top terms"),
        Column("description", "description", "text", "persona", "one line"),
        Column("terms", "terms", "text", "persona", "terms that set its customers apart"),
        Column("customers", "customers", "count", "size", "customers of the persona"),
        Column("share_pct", "share %", "percent", "size", "of the build's customers"),
        Column("conversations", "conversations", "count", "size", "theirs in the range"),
        Column("labeled", "labeled", "count", "labels", "with a current label"),
        Column("top_topics", "top topics", "text", "labels", "three most frequent, % labeled"),
        Column("top_objections", "top objections", "text", "labels", "three most frequent"),
        Column("sentiment", "sentiment", "ratio", "labels", "mean labels.sentiment, -1..1"),
        Column("resolved_pct", "resolved %", "percent", "outcome", "resolved / known"),
        Column("with_stage", "with stage", "count", "outcome", "with a current stage"),
        Column("won_pct", "won %", "percent", "outcome", "stage won / closed won"),
        Column("quotes", "quotes", "text", "words", "three customers nearest the centre"),
        Column("k", "k", "count", "build", "personas in the build"),
        Column("silhouette", "silhouette", "ratio", "build", "-1..1, higher: better apart"),
        Column("method", "vectors", "text", "build", "tfidf-svd or embeddings"),
        Column("device", "device", "text", "build", "where K-means ran: cpu or cuda"),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Per persona: size, name, what its conversations say, quotes."""
