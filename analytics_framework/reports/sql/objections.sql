-- objections: per period (and org or setter) and sales-objection class, how often it was raised,
-- by whom, in the customer's words, and what happened next.
-- Metric definitions v1 (DESIGN.md "objection", labels.objection / objection_quote):
--   labeled              labeled conversations of the group (labels.status = 'labeled')
--   conversations        those labeled with this objection
--   share_pct            conversations / labeled conversations of the group with any objection
--                        x 100 (the objection mix; the shares of a group add up to 100)
--   rate_pct             conversations / labeled x 100 (how often a conversation meets it)
--   resolved_pct         resolved / resolution known x 100 (source status, else the label, as
--                        overview.sql)
--   with_stage           those conversations with a current stage (Mochi)
--   won_pct              current stage 'won' or 'closed won' (any case, trimmed) / with_stage
--                        x 100, as engagement.sql's lead conversion; NULL without stages
--   top_stage            the most frequent current stage (trimmed, lower case), ties by name
--   quote                the objection_quote of the latest such conversation (by start, then
--                        id) that has one: the customer's message that raised it
-- --by setter: the conversation's setter is its assigned agent (conversations.assigned_agent_id,
--   Mochi's setter), else the human who sent most of its human messages (agent_message_counts;
--   ties go to the first agent id, agent_ids being sorted), else NULL (nobody wrote).
-- Placeholders and parameters as in overview.sql; {keys} is "period", "period, org_id" or
--   "period, setter". Row order is a total order: per group, most conversations first, ties by
--   objection name.
WITH c AS (
    SELECT
        conversations.conversation_id,
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        {org_expr} AS org_id,
        CASE WHEN '{by}' = 'setter' THEN coalesce(
            conversations.assigned_agent_id,
            agent_ids[list_position(agent_message_counts, list_max(agent_message_counts))]
        ) END AS setter,
        conversations.started_at,
        nullif(lower(trim(conversations.stage)), '') AS stage,
        l.objection,
        l.objection_quote,
        coalesce(
            CASE WHEN lower(conversations.status) IN ('resolved', 'closed', 'solved', 'done')
                 THEN TRUE END,
            l.resolved
        ) AS resolved
    FROM conversations
    JOIN (
        SELECT conversation_id, objection, objection_quote, resolved
        FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
groups AS (
    SELECT
        row({keys}) AS g,
        count(*) AS labeled,
        count(objection) AS with_objection
    FROM c
    GROUP BY {keys}
),
per_class AS (
    SELECT
        {keys},
        row({keys}) AS g,
        objection,
        count(*) AS conversations,
        100.0 * count(*) FILTER (WHERE resolved) / nullif(count(resolved), 0) AS resolved_pct,
        count(stage) AS with_stage,
        100.0 * count(*) FILTER (WHERE stage IN ('won', 'closed won')) / nullif(count(stage), 0)
            AS won_pct,
        arg_max(objection_quote, struct_pack(s := started_at, id := conversation_id))
            FILTER (WHERE objection_quote IS NOT NULL) AS quote
    FROM c
    WHERE objection IS NOT NULL
    GROUP BY {keys}, objection
),
stages AS (
    SELECT
        row({keys}, objection) AS gs,
        stage AS top_stage
    FROM (
        SELECT
            {keys},
            objection,
            stage,
            row_number() OVER (PARTITION BY {keys}, objection ORDER BY count(*) DESC, stage)
                AS rank
        FROM c
        WHERE objection IS NOT NULL AND stage IS NOT NULL
        GROUP BY {keys}, objection, stage
    )
    WHERE rank = 1
)
SELECT
    {keys},
    objection,
    labeled,
    conversations,
    100.0 * conversations / with_objection AS share_pct,
    100.0 * conversations / labeled AS rate_pct,
    resolved_pct,
    with_stage,
    won_pct,
    top_stage,
    quote,
    {metric_version} AS metric_version
-- groups and stages hold only their struct key and figures, so the keys are per_class's
FROM per_class
JOIN groups USING (g)
LEFT JOIN stages ON gs = row({keys}, objection)
ORDER BY {keys}, conversations DESC, objection
