-- agents: one row per period and agent, ranked by $sort (descending, ties by agent id, a null
-- agent last), the first $limit of each period.
-- Metric definitions v1 (DESIGN.md "per agent"), by sender ({by} empty):
--   agent_id            sender_id of human (role agent) messages; bots and systems never count;
--                       NULL collects human messages without a sender id
--   conversations       conversations the agent sent at least one human message in (handled)
--   messages            human messages they sent there
--   replies             their replies that answered a waiting customer (replies table); summed
--                       over agents, the overview's replies
--   reply_rate_pct      handled conversations with a reply of theirs that answered a waiting
--                       customer / handled x 100 (every handled one has a human message of theirs)
--   frt_*_s             FRT of the conversations whose first human reply is theirs (is_first)
--   response_*_s        response time of their replies
--   csat_pct ... top_objection: over the conversations they handled, as overview.sql defines
--                       them; top_objection the most frequent labels.objection, ties by name
-- By assignment ({by} = assignment): each conversation, its replies, FRT and quality belong to
--   conversations.assigned_agent_id (NULL: unassigned); conversations = assigned to them,
--   messages = human messages in them (any sender), reply_rate_pct = assigned with at least one
--   human reply / assigned x 100 (DESIGN.md's reply rate).
-- *_business_*_s (--business-hours only): the same FRT and response time counting open hours
--   only, from each reply's business_s (view replies_business, reports/business_hours.py);
--   {business_hours} is TRUE then, else FALSE and the engine drops those columns.
-- Determinism as in overview.sql: means over DECIMAL(18, 6), percentiles sort, ranks and the
--   final ORDER BY are total orders.
-- Partition pruning: {days} filters conversations.year/month/day; messages and replies are
--   partitioned like their conversation, so they are read under the alias "conversations" to
--   be pruned the same way. {days_ahead} prunes the FCR window (8 more days).
WITH followed AS (
    SELECT
        conversation_id,
        CASE WHEN customer_id IS NOT NULL THEN
            lead(started_at) OVER (PARTITION BY customer_id ORDER BY started_at, conversation_id)
        END AS next_started_at
    FROM conversations
    WHERE {days_ahead}
),
c AS (
    SELECT
        conversation_id,
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        assigned_agent_id,
        agent_messages,
        csat_rating,
        l.satisfaction,
        l.sentiment,
        l.objection,
        coalesce(
            CASE WHEN lower(conversations.status) IN ('resolved', 'closed', 'solved', 'done')
                 THEN TRUE END,
            l.resolved
        ) AS resolved,
        response_count = 1
            AND (f.next_started_at IS NULL
                 OR f.next_started_at >= conversations.started_at + INTERVAL 7 DAY) AS one_contact
    FROM conversations
    LEFT JOIN (
        SELECT conversation_id, satisfaction, sentiment, resolved, objection
        FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    LEFT JOIN followed f USING (conversation_id)
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
sent AS (
    -- by sender: who wrote human messages in which conversation, and how many
    SELECT conversation_id, sender_id AS agent_id, count(*) AS messages
    FROM messages AS conversations
    WHERE role = 'agent' AND '{by}' <> 'assignment' AND {days}
    GROUP BY conversation_id, sender_id
),
handled AS (
    -- (period, agent, conversation): the conversations each agent is measured on
    SELECT c.*, s.agent_id, s.messages FROM c JOIN sent s USING (conversation_id)
    UNION ALL
    SELECT c.*, c.assigned_agent_id AS agent_id, c.agent_messages AS messages
    FROM c WHERE '{by}' = 'assignment'
),
r AS (
    -- each reply that answered a waiting customer, with the agent it belongs to
    SELECT
        c.period,
        CASE WHEN '{by}' = 'assignment' THEN c.assigned_agent_id ELSE rb.agent_id END AS agent_id,
        rb.conversation_id,
        rb.is_first,
        rb.response_s,
        CASE WHEN {business_hours} THEN rb.business_s END AS b
    FROM (SELECT * FROM replies_business AS conversations WHERE {days}) AS rb
    JOIN c USING (conversation_id)
),
per_agent AS (
    SELECT
        period,
        agent_id,
        count(*) AS conversations,
        CAST(sum(messages) AS BIGINT) AS messages,
        count(*) FILTER (WHERE agent_messages > 0) AS with_human_reply,
        100.0 * count(*) FILTER (WHERE csat_rating >= 4) / nullif(count(csat_rating), 0)
            AS csat_pct,
        100.0 * count(*) FILTER (WHERE satisfaction >= 4) / nullif(count(satisfaction), 0)
            AS predicted_csat_pct,
        100.0 * count(*) FILTER (WHERE resolved) / nullif(count(resolved), 0) AS resolution_pct,
        100.0 * count(*) FILTER (WHERE resolved AND one_contact) / nullif(count(resolved), 0)
            AS fcr_pct,
        avg(CAST(sentiment AS DECIMAL(18, 6))) AS sentiment_mean
    FROM handled
    GROUP BY period, agent_id
),
per_reply AS (
    SELECT
        period,
        agent_id,
        count(*) AS replies,
        count(DISTINCT conversation_id) AS answered,
        avg(CAST(response_s AS DECIMAL(18, 6))) FILTER (WHERE is_first) AS frt_mean_s,
        quantile_cont(response_s, 0.5) FILTER (WHERE is_first) AS frt_median_s,
        quantile_cont(response_s, 0.9) FILTER (WHERE is_first) AS frt_p90_s,
        avg(CAST(response_s AS DECIMAL(18, 6))) AS response_mean_s,
        quantile_cont(response_s, 0.5) AS response_median_s,
        quantile_cont(response_s, 0.9) AS response_p90_s,
        avg(CAST(b AS DECIMAL(18, 6))) FILTER (WHERE is_first) AS frt_business_mean_s,
        quantile_cont(b, 0.5) FILTER (WHERE is_first) AS frt_business_median_s,
        quantile_cont(b, 0.9) FILTER (WHERE is_first) AS frt_business_p90_s,
        avg(CAST(b AS DECIMAL(18, 6))) AS response_business_mean_s,
        quantile_cont(b, 0.5) AS response_business_median_s,
        quantile_cont(b, 0.9) AS response_business_p90_s
    FROM r
    GROUP BY period, agent_id
),
top_objection AS (
    SELECT period, agent_id, objection AS top_objection
    FROM (
        SELECT period, agent_id, objection, count(*) AS n
        FROM handled WHERE objection IS NOT NULL
        GROUP BY period, agent_id, objection
    )
    QUALIFY row_number() OVER (PARTITION BY period, agent_id ORDER BY n DESC, objection) = 1
),
joined AS (
    -- a null agent_id is a group of its own, hence IS NOT DISTINCT FROM
    SELECT
        p.period,
        p.agent_id,
        p.conversations,
        p.messages,
        coalesce(x.replies, 0) AS replies,
        100.0 * CASE WHEN '{by}' = 'assignment' THEN p.with_human_reply
                     ELSE coalesce(x.answered, 0) END / p.conversations AS reply_rate_pct,
        x.frt_mean_s, x.frt_median_s, x.frt_p90_s,
        x.response_mean_s, x.response_median_s, x.response_p90_s,
        x.frt_business_mean_s, x.frt_business_median_s, x.frt_business_p90_s,
        x.response_business_mean_s, x.response_business_median_s, x.response_business_p90_s,
        p.csat_pct, p.predicted_csat_pct, p.resolution_pct, p.fcr_pct, p.sentiment_mean,
        t.top_objection
    FROM per_agent p
    LEFT JOIN per_reply x ON x.period = p.period AND x.agent_id IS NOT DISTINCT FROM p.agent_id
    LEFT JOIN top_objection t
        ON t.period = p.period AND t.agent_id IS NOT DISTINCT FROM p.agent_id
),
ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY period
            ORDER BY
                CAST(CASE $sort
                    WHEN 'conversations' THEN conversations
                    WHEN 'messages' THEN messages
                    WHEN 'replies' THEN replies
                    WHEN 'reply_rate_pct' THEN reply_rate_pct
                    WHEN 'frt_mean_s' THEN frt_mean_s
                    WHEN 'frt_median_s' THEN frt_median_s
                    WHEN 'frt_p90_s' THEN frt_p90_s
                    WHEN 'response_mean_s' THEN response_mean_s
                    WHEN 'response_median_s' THEN response_median_s
                    WHEN 'response_p90_s' THEN response_p90_s
                    WHEN 'frt_business_mean_s' THEN frt_business_mean_s
                    WHEN 'frt_business_median_s' THEN frt_business_median_s
                    WHEN 'frt_business_p90_s' THEN frt_business_p90_s
                    WHEN 'response_business_mean_s' THEN response_business_mean_s
                    WHEN 'response_business_median_s' THEN response_business_median_s
                    WHEN 'response_business_p90_s' THEN response_business_p90_s
                    WHEN 'csat_pct' THEN csat_pct
                    WHEN 'predicted_csat_pct' THEN predicted_csat_pct
                    WHEN 'resolution_pct' THEN resolution_pct
                    WHEN 'fcr_pct' THEN fcr_pct
                    WHEN 'sentiment_mean' THEN sentiment_mean
                END AS DOUBLE) DESC NULLS LAST,
                agent_id ASC NULLS LAST
        ) AS rank
    FROM joined
)
SELECT
    period, rank, agent_id,
    conversations, messages, replies, reply_rate_pct,
    frt_mean_s, frt_median_s, frt_p90_s,
    response_mean_s, response_median_s, response_p90_s,
    frt_business_mean_s, frt_business_median_s, frt_business_p90_s,
    response_business_mean_s, response_business_median_s, response_business_p90_s,
    csat_pct, predicted_csat_pct, resolution_pct, fcr_pct, sentiment_mean, top_objection,
    {metric_version} AS metric_version
FROM ranked
WHERE rank <= $limit
ORDER BY period, rank
