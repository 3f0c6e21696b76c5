-- intents: per period (and org) and labeled intent, how its conversations went.
-- Metric definitions v1 (DESIGN.md):
--   conversations        labeled conversations with that intent (labels.status = 'labeled')
--   success_pct          resolved / conversations whose resolution is known x 100; resolved =
--                        the source status says so, else the labeler's verdict (as overview.sql)
--   failure_pct          not resolved / conversations whose resolution is known x 100
--   confidence_mean      mean labels.confidence (0..1) over the intent's labels that carry one
--                        (labels written before prompt version v2 have none)
--   replies              human replies in those conversations that answered a customer
--   response_median_s    median response time over those replies (continuous, quantile_cont)
--   top_topics           the 3 most frequent labeled topics of those conversations, "a; b; c",
--                        most frequent first, ties by topic name
-- Means are avg() over DECIMAL(18, 6), so the same whatever order DuckDB's threads add them in.
-- Placeholders and parameters as in overview.sql. The parts are joined on grp, a struct of the
--   row's keys: struct equality matches NULL fields (an org-less lake run --by org), where a
--   plain USING (org_id) would drop those rows' reply and topic figures.
-- Row order is a total order: per period (and org), most conversations first, ties by intent.
WITH c AS (
    SELECT
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        {org_expr} AS org_id,
        l.intent,
        l.topic,
        l.confidence,
        response_times_s,
        coalesce(
            CASE WHEN lower(conversations.status) IN ('resolved', 'closed', 'solved', 'done')
                 THEN TRUE END,
            l.resolved
        ) AS resolved
    FROM conversations
    JOIN (
        SELECT conversation_id, intent, topic, confidence, resolved
        FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
per_intent AS (
    SELECT
        {keys},
        intent,
        row({keys}, intent) AS grp,
        count(*) AS conversations,
        100.0 * count(*) FILTER (WHERE resolved) / nullif(count(resolved), 0) AS success_pct,
        100.0 * count(*) FILTER (WHERE NOT resolved) / nullif(count(resolved), 0) AS failure_pct,
        avg(CAST(confidence AS DECIMAL(18, 6))) AS confidence_mean
    FROM c
    GROUP BY {keys}, intent
),
per_reply AS (
    SELECT
        row({keys}, intent) AS grp,
        count(r) AS replies,
        quantile_cont(r, 0.5) AS response_median_s
    FROM (SELECT {keys}, intent, unnest(response_times_s) AS r FROM c)
    GROUP BY {keys}, intent
),
topic_counts AS (
    SELECT {keys}, intent, topic, count(*) AS n
    FROM c
    WHERE topic IS NOT NULL
    GROUP BY {keys}, intent, topic
),
top_topics AS (
    SELECT
        row({keys}, intent) AS grp,
        string_agg(topic, '; ' ORDER BY n DESC, topic) AS top_topics
    FROM (
        SELECT *, row_number() OVER (PARTITION BY {keys}, intent ORDER BY n DESC, topic) AS rank
        FROM topic_counts
    )
    WHERE rank <= 3
    GROUP BY {keys}, intent
)
SELECT
    {keys},
    intent,
    conversations,
    success_pct,
    failure_pct,
    confidence_mean,
    coalesce(replies, 0) AS replies,
    response_median_s,
    top_topics,
    {metric_version} AS metric_version
FROM per_intent
LEFT JOIN per_reply USING (grp)
LEFT JOIN top_topics USING (grp)
ORDER BY {keys}, conversations DESC, intent NULLS LAST
