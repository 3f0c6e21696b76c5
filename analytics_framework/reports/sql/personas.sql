-- personas: the customer personas of the last build (the lake's personas table, written by
-- analytics personas: analytics_framework/insights/personas.py) and what their conversations say.
-- Metric definitions v1 (DESIGN.md "personas"); a persona's conversations are those of its
-- customers (conversations.customer_id) started in the range (and of $org) -- the report's
-- --start-date/--end-date/--org when given, else the build's (personas.range_start/range_end/
-- range_org), so analytics report personas repeats what analytics personas printed:
--   persona_id / name / description / terms   from the build (1..k by size)
--   customers        customers of the persona in the build
--   share_pct        customers / all customers of the build x 100
--   conversations    their conversations in the range
--   labeled          those with a current label (labels.status = 'labeled')
--   top_topics       the three most frequent labels.topic, each with its share of the labeled
--                    conversations ("billing 40%"), ties by name
--   top_objections   the same for labels.objection over the labeled conversations (those with
--                    none left out of the list, not of the share)
--   sentiment        mean labels.sentiment (-1..1)
--   resolved_pct     resolved / resolution known x 100 (source status, else the label)
--   with_stage / won_pct   conversations with a current stage; stage 'won' or 'closed won'
--                    (trimmed, any case) / with_stage x 100 (NULL without stages)
--   quotes           the distinct quotes (longest message) of the customers nearest the
--                    persona's centre, by distance then customer id, the first three, joined
--                    with " | "
--   k / silhouette / method / device   the build's
-- The period cuts nothing: period = the first day of the range, else of the build's first
-- customer conversation. A table holding two builds stops the report.
WITH p AS (
    SELECT * FROM personas
),
build AS (
    -- the range and org the build grouped customers over: the report's own when given
    SELECT
        coalesce(CAST($start AS TIMESTAMPTZ), any_value(range_start)) AS range_start,
        coalesce(CAST($end AS TIMESTAMPTZ), any_value(range_end)) AS range_end,
        coalesce($org, any_value(range_org)) AS range_org
    FROM p
),
c AS (
    SELECT
        conversations.customer_id,
        conversations.started_at,
        nullif(lower(trim(conversations.stage)), '') AS stage,
        l.topic,
        l.objection,
        l.sentiment,
        l.conversation_id IS NOT NULL AS labeled,
        coalesce(
            CASE WHEN lower(conversations.status) IN ('resolved', 'closed', 'solved', 'done')
                 THEN TRUE END,
            l.resolved
        ) AS resolved
    FROM conversations
    LEFT JOIN (
        SELECT conversation_id, topic, objection, sentiment, resolved
        FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    CROSS JOIN build
    WHERE (build.range_start IS NULL OR conversations.started_at >= build.range_start)
      AND (build.range_end IS NULL OR conversations.started_at < build.range_end)
      AND (build.range_org IS NULL OR conversations.org_id = build.range_org)
      AND {days}
      AND conversations.customer_id IN (SELECT customer_id FROM p)
),
pc AS (
    SELECT p.persona_id, c.* FROM c JOIN p USING (customer_id)
),
per_persona AS (
    SELECT
        persona_id,
        any_value(persona_name) AS name,
        any_value(persona_description) AS description,
        any_value(persona_terms) AS terms,
        count(*) AS customers,
        100.0 * count(*) / sum(count(*)) OVER () AS share_pct,
        any_value(k) AS k,
        any_value(silhouette) AS silhouette,
        any_value(method) AS method,
        any_value(device) AS device
    FROM p
    GROUP BY persona_id
),
quotes AS (
    -- each distinct quote at its nearest customer (distance, then id), the first three
    SELECT persona_id, array_to_string(list(quote ORDER BY nearest)[1:3], ' | ') AS quotes
    FROM (
        SELECT persona_id, quote, min(struct_pack(d := distance, c := customer_id)) AS nearest
        FROM p
        WHERE quote IS NOT NULL AND quote <> ''
        GROUP BY persona_id, quote
    )
    GROUP BY persona_id
),
figures AS (
    SELECT
        persona_id,
        count(*) AS conversations,
        count(*) FILTER (WHERE labeled) AS labeled,
        avg(sentiment) AS sentiment,
        100.0 * count(*) FILTER (WHERE resolved) / nullif(count(resolved), 0) AS resolved_pct,
        count(stage) AS with_stage,
        100.0 * count(*) FILTER (WHERE stage IN ('won', 'closed won')) / nullif(count(stage), 0)
            AS won_pct,
        min(started_at) AS first_at
    FROM pc
    GROUP BY persona_id
),
ranked_values AS (
    SELECT
        persona_id,
        kind,
        value,
        n,
        row_number() OVER (PARTITION BY persona_id, kind ORDER BY n DESC, value) AS rank
    FROM (
        SELECT persona_id, 'topic' AS kind, topic AS value, count(*) AS n
        FROM pc WHERE labeled AND topic IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT persona_id, 'objection', objection, count(*)
        FROM pc WHERE labeled AND objection IS NOT NULL GROUP BY ALL
    )
),
tops AS (
    SELECT
        v.persona_id,
        string_agg(
            v.value || ' ' || CAST(round(100.0 * v.n / f.labeled) AS BIGINT) || '%', ', '
            ORDER BY v.rank
        ) FILTER (WHERE v.kind = 'topic') AS top_topics,
        string_agg(
            v.value || ' ' || CAST(round(100.0 * v.n / f.labeled) AS BIGINT) || '%', ', '
            ORDER BY v.rank
        ) FILTER (WHERE v.kind = 'objection') AS top_objections
    FROM ranked_values v
    JOIN figures f USING (persona_id)
    WHERE v.rank <= 3
    GROUP BY v.persona_id
)
SELECT
    coalesce(CAST(local_ts(CAST($start AS TIMESTAMPTZ)) AS DATE),
             CAST(local_ts(min(f.first_at) OVER ()) AS DATE)) AS period,
    per_persona.persona_id,
    name,
    description,
    terms,
    customers,
    share_pct,
    coalesce(f.conversations, 0) AS conversations,
    coalesce(f.labeled, 0) AS labeled,
    t.top_topics,
    t.top_objections,
    f.sentiment,
    f.resolved_pct,
    coalesce(f.with_stage, 0) AS with_stage,
    f.won_pct,
    q.quotes,
    k,
    silhouette,
    method,
    device,
    -- an output column, so that DuckDB cannot drop the check
    {metric_version} + (
        SELECT CASE WHEN count(DISTINCT build_id) > 1 THEN error(
            'the personas table holds two builds (an interrupted analytics personas): '
            || 'run analytics personas again'
        ) ELSE 0 END
        FROM p
    ) AS metric_version
FROM per_persona
LEFT JOIN figures f USING (persona_id)
LEFT JOIN tops t USING (persona_id)
LEFT JOIN quotes q USING (persona_id)
ORDER BY per_persona.persona_id
