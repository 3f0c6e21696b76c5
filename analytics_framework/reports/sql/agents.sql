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
--                       (NULL when none of them has one)
-- By assignment ({by} = assignment): each conversation, its replies, FRT and quality belong to
--   conversations.assigned_agent_id (NULL: unassigned); conversations = assigned to them,
--   messages = human messages in them (any sender), reply_rate_pct = assigned with at least one
--   human reply / assigned x 100 (DESIGN.md's reply rate).
-- *_business_*_s (--business-hours only): the same FRT and response time counting open hours
--   only, from each reply's business_us (view replies_business, reports/business_hours.py);
--   {business_hours} is TRUE then, else FALSE and the engine drops those columns.
-- Determinism as in overview.sql: means over exact integers (durations in microseconds, the
--   sentiment sum in millionths), percentiles sort, ranks and the final ORDER BY are total
--   orders.
-- Partition pruning: {days} filters conversations.year/month/day; messages and replies are
--   partitioned like their conversation, so they are read under the alias "conversations" to
--   be pruned the same way. {days_ahead} prunes the FCR look-ahead (8 more days).
-- How it stays fast over millions of messages (every conversation is read once for the quality
-- columns, once narrow for the replies, and no message is read):
--   - who handled what, and how many messages and replies each agent sent there, come from
--     conversations.agent_ids and its parallel lists agent_message_counts / agent_reply_counts
--     (written at load time, model.CONVERSATION_SCHEMA), unnested once; what they do not list
--     (human messages without a sender id) is the NULL agent's. Rows written before those lists
--     existed stop the report with a message to re-collect.
--   - FCR's "no new conversation of the same customer within 7 days" is a join of the
--     conversations with one reply cycle (the only ones FCR can count) to their customer's
--     other conversations, not a window over all of them; the 7 days are 604800 s of epoch
--     microseconds (the session is UTC, where INTERVAL 7 DAY is exactly that, through ICU).
--   - c is read by one consumer (handled), so DuckDB streams it instead of materializing it;
--     a reply carries its conversation's start, org and assignee (replies written at load), so
--     the replies are filtered and put in their period without a join; replies written before
--     those columns existed stop the report with a message to re-collect.
--   - the quality columns are summed per period, agent and objection, then added up per agent,
--     so the top objection comes from a few thousand rows, not a histogram per group.
--   - the business-time aggregates are wrapped in CASE WHEN {business_hours}, so without
--     --business-hours DuckDB drops them (and the quantile states) from the plan.
WITH
-- @include fcr_repeated.sql
c AS (
    SELECT
        conversation_id,
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        assigned_agent_id,
        agent_messages,
        response_count,
        agent_ids,
        agent_message_counts,
        agent_reply_counts,
        csat_rating,
        l.satisfaction,
        l.sentiment,
        l.objection,
        coalesce(
            CASE WHEN lower(conversations.status) IN ('resolved', 'closed', 'solved', 'done')
                 THEN TRUE END,
            l.resolved
        ) AS resolved,
        response_count = 1 AND rp.conversation_id IS NULL AS one_contact
    FROM conversations
    LEFT JOIN (
        SELECT conversation_id, satisfaction, sentiment, resolved, objection
        FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    LEFT JOIN repeated rp ON rp.conversation_id = conversations.conversation_id
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
handled AS (
    -- (period, agent, conversation): the conversations each agent is measured on, with the
    -- human messages they sent there and how many of them answered a waiting customer; by
    -- sender the agents of agent_ids, plus NULL for human messages without a sender id
    SELECT
        cu.*,
        unnest(CASE WHEN '{by}' = 'assignment' THEN [assigned_agent_id]
                    WHEN unsent > 0 THEN list_append(agent_ids, NULL)
                    ELSE agent_ids END) AS agent_id,
        unnest(CASE WHEN '{by}' = 'assignment' THEN [agent_messages]
                    WHEN unsent > 0 THEN list_append(agent_message_counts, unsent)
                    ELSE agent_message_counts END) AS messages,
        unnest(CASE WHEN '{by}' = 'assignment' THEN [response_count]
                    WHEN unsent > 0 THEN list_append(agent_reply_counts,
                        response_count - coalesce(list_sum(agent_reply_counts), 0))
                    ELSE agent_reply_counts END) AS replied
    FROM (
        SELECT
            *,
            agent_messages - coalesce(list_sum(coalesce(agent_message_counts, error(
                'conversations written before agent_message_counts existed: re-collect them '
                || '(analytics collect ... --full-refresh)'
            ))), 0) AS unsent
        FROM c
    ) AS cu
),
r AS (
    -- each reply that answered a waiting customer, with the agent and the period it belongs to
    -- (the period of its conversation's start, carried on the reply)
    SELECT
        CAST(date_trunc('{unit}', local_ts(coalesce(conversation_started_at, error(
            'replies written before conversation_started_at existed: re-collect them '
            || '(analytics collect ... --full-refresh)'
        )))) AS DATE) AS period,
        CASE WHEN '{by}' = 'assignment' THEN assigned_agent_id ELSE agent_id END AS agent_id,
        is_first,
        response_us AS u,
        CASE WHEN {business_hours} THEN business_us END AS b
    FROM replies_business AS conversations
    WHERE ($start IS NULL OR conversation_started_at >= $start)
      AND ($end IS NULL OR conversation_started_at < $end)
      AND ($org IS NULL OR org_id = $org)
      AND {days}
),
per_objection AS (
    -- the additive sums per period, agent and objection; per_agent adds them up
    SELECT
        period,
        agent_id,
        objection,
        count(*) AS conversations,
        sum(messages) AS messages,
        sum(replied) AS replies,
        count_if(replied > 0) AS answered,
        CASE WHEN '{by}' = 'assignment' THEN count_if(agent_messages > 0) END
            AS with_human_reply,
        count_if(csat_rating >= 4) AS csat_good,
        count(csat_rating) AS csat_n,
        count_if(satisfaction >= 4) AS satisfied,
        count(satisfaction) AS satisfaction_n,
        count_if(resolved) AS resolved_n,
        count(resolved) AS resolved_known,
        count_if(resolved AND one_contact) AS fcr_n,
        sum(CAST(round(sentiment * 1e6) AS BIGINT)) AS sentiment_sum,
        count(sentiment) AS sentiment_n
    FROM handled
    GROUP BY period, agent_id, objection
),
per_agent AS (
    -- top_objection: the largest count, ties by name (arg_max over (count, -name) is not
    -- available for strings, so the entries are sorted by -count, then name)
    SELECT
        period,
        agent_id,
        CAST(sum(conversations) AS BIGINT) AS conversations,
        CAST(sum(messages) AS BIGINT) AS messages,
        CAST(sum(replies) AS BIGINT) AS replies,
        CAST(sum(answered) AS BIGINT) AS answered,
        CAST(sum(with_human_reply) AS BIGINT) AS with_human_reply,
        100.0 * sum(csat_good) / nullif(sum(csat_n), 0) AS csat_pct,
        100.0 * sum(satisfied) / nullif(sum(satisfaction_n), 0) AS predicted_csat_pct,
        100.0 * sum(resolved_n) / nullif(sum(resolved_known), 0) AS resolution_pct,
        100.0 * sum(fcr_n) / nullif(sum(resolved_known), 0) AS fcr_pct,
        sum(sentiment_sum) / 1e6 / nullif(sum(sentiment_n), 0) AS sentiment_mean,
        (list_sort(list(struct_pack(n := -conversations, o := objection))
                   FILTER (WHERE objection IS NOT NULL)))[1].o AS top_objection
    FROM per_objection
    GROUP BY period, agent_id
),
per_reply AS (
    SELECT
        period,
        agent_id,
        avg(u) FILTER (WHERE is_first) AS frt_mean_us,
        quantile_cont(u, [0.5, 0.9]) FILTER (WHERE is_first) AS frt_q_us,
        avg(u) AS response_mean_us,
        quantile_cont(u, [0.5, 0.9]) AS response_q_us,
        avg(b) FILTER (WHERE is_first) AS frt_business_mean_us,
        quantile_cont(b, [0.5, 0.9]) FILTER (WHERE is_first) AS frt_business_q_us,
        avg(b) AS response_business_mean_us,
        quantile_cont(b, [0.5, 0.9]) AS response_business_q_us
    FROM r
    GROUP BY period, agent_id
),
joined AS (
    -- a null agent_id is a group of its own, hence IS NOT DISTINCT FROM; top_objection: the
    -- largest count, ties by name (entries sorted by -count, then name)
    SELECT
        p.period,
        p.agent_id,
        p.conversations,
        p.messages,
        p.replies,
        100.0 * CASE WHEN '{by}' = 'assignment' THEN p.with_human_reply
                     ELSE p.answered END / p.conversations AS reply_rate_pct,
        x.frt_mean_us / 1e6 AS frt_mean_s,
        x.frt_q_us[1] / 1e6 AS frt_median_s,
        x.frt_q_us[2] / 1e6 AS frt_p90_s,
        x.response_mean_us / 1e6 AS response_mean_s,
        x.response_q_us[1] / 1e6 AS response_median_s,
        x.response_q_us[2] / 1e6 AS response_p90_s,
        CASE WHEN {business_hours} THEN x.frt_business_mean_us / 1e6 END AS frt_business_mean_s,
        CASE WHEN {business_hours} THEN x.frt_business_q_us[1] / 1e6 END AS frt_business_median_s,
        CASE WHEN {business_hours} THEN x.frt_business_q_us[2] / 1e6 END AS frt_business_p90_s,
        CASE WHEN {business_hours} THEN x.response_business_mean_us / 1e6 END
            AS response_business_mean_s,
        CASE WHEN {business_hours} THEN x.response_business_q_us[1] / 1e6 END
            AS response_business_median_s,
        CASE WHEN {business_hours} THEN x.response_business_q_us[2] / 1e6 END
            AS response_business_p90_s,
        p.csat_pct, p.predicted_csat_pct, p.resolution_pct, p.fcr_pct, p.sentiment_mean,
        p.top_objection
    FROM per_agent p
    LEFT JOIN per_reply x ON x.period = p.period AND x.agent_id IS NOT DISTINCT FROM p.agent_id
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
