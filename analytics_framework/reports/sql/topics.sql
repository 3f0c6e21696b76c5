-- topics: the top topics, intents and objections per period (and org), with counts and shares.
-- share_pct = conversations with that value / labeled conversations in the period x 100 (an
-- objection's share is the share of all labeled conversations that raised it). Top 10 of each.
-- Placeholders and parameters as in overview.sql.
-- Row order is a total order: ties in count are ranked by value (unique within its dimension,
-- the one NULL group last), so the same lake always gives the same rows in the same order.
WITH c AS (
    SELECT
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        {org_expr} AS org_id,
        l.topic,
        l.intent,
        l.objection
    FROM conversations
    JOIN (
        SELECT conversation_id, topic, intent, objection FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
totals AS (SELECT struct_pack({keys}) AS grp, count(*) AS labeled FROM c GROUP BY {keys}),
long AS (
    SELECT {keys}, 'topic' AS dimension, topic AS value FROM c
    UNION ALL SELECT {keys}, 'intent', intent FROM c
    UNION ALL SELECT {keys}, 'objection', objection FROM c WHERE objection IS NOT NULL
),
counted AS (
    SELECT {keys}, dimension, value, count(*) AS conversations FROM long
    GROUP BY {keys}, dimension, value
)
SELECT
    {keys},
    dimension,
    row_number() OVER (PARTITION BY {keys}, dimension ORDER BY conversations DESC, value NULLS LAST)
        AS rank,
    value,
    conversations,
    100.0 * conversations / labeled AS share_pct,
    {metric_version} AS metric_version
-- joined on a struct of the keys: a NULL org is a group of its own, which USING (org_id) loses
FROM (SELECT *, struct_pack({keys}) AS grp FROM counted) JOIN totals USING (grp)
QUALIFY rank <= 10
ORDER BY {keys}, dimension, rank
