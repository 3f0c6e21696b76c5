-- overview: volume, unanswered, first response time, response time and quality (surveyed CSAT,
-- predicted CSAT, resolution rate, FCR, sentiment) per period (and org).
-- Metric definitions v1 (DESIGN.md):
--   reply_rate_pct      conversations with at least one human reply / conversations x 100
--   resolution_*_s      last - first message of conversations resolved (source or labeler)
--   csat_pct            surveyed ratings 4-5 / all surveyed ratings x 100 (source csat_rating)
--   predicted_csat_pct  labeled conversations with predicted satisfaction 4-5 / labeled x 100
--   resolution_pct      resolved / conversations whose resolution is known x 100; resolved =
--                       the source status says so, else the labeler's verdict
--   fcr_pct             first-contact resolutions / conversations whose resolution is known x 100;
--                       FCR = resolved, exactly one human reply cycle (response_count = 1), and
--                       the same customer opens no new conversation within 7 days
--   sentiment_mean      mean labeled sentiment (-1..1); positive/neutral/negative_pct its split
--   *_business_*_s      (--business-hours only) FRT and response time counting open hours only:
--                       each reply's business_us (view replies_business, reports/business_hours.py)
--                       between waiting_since and replied_at; FRT = the conversation's first reply
-- Determinism: means are avg() over exact integers, so the same whatever order DuckDB's threads
--   add them in: reply durations as BIGINT microseconds (response_us, business_us: the replies'
--   own, or round(s * 1e6) of the conversation's list, which is exact), the others over
--   DECIMAL(18, 6); avg() over DOUBLE would differ in the last digits from run to run.
--   Percentiles sort (over the microseconds, then / 1e6), counts are exact, and the result
--   rounds every float by column kind (result.PRECISION).
-- Placeholders filled by the engine from a whitelist:
--   {unit} day|week|month   {keys} "period" or "period, org_id"   {org_expr} org_id or NULL
--   {business_hours} TRUE with --business-hours, else FALSE (nothing read; the engine drops the
--   business-hours columns)
-- Parameters: $tz (IANA zone), $start/$end (UTC instants or NULL), $org (or NULL),
--   {days} / {days_ahead}: partition-day filters written by the engine as comparisons on the
--   year/month/day columns themselves, which DuckDB prunes files with (a make_date() over them
--   would read every file); one day of slack each side for zone shifts, 8 more days ahead for
--   the FCR window.
WITH
-- @include fcr_repeated.sql
c AS (
    SELECT
        conversation_id,
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        {org_expr} AS org_id,
        customer_id,
        message_count,
        customer_messages,
        agent_messages,
        conversations.started_at,
        conversations.ended_at,
        first_response_s,
        response_times_s,
        csat_rating,
        l.satisfaction,
        l.sentiment,
        l.sentiment_label,
        coalesce(
            CASE WHEN lower(conversations.status) IN ('resolved', 'closed', 'solved', 'done')
                 THEN TRUE END,
            l.resolved
        ) AS resolved,
        response_count = 1 AND rp.conversation_id IS NULL AS one_contact
    FROM conversations
    LEFT JOIN (
        SELECT conversation_id, satisfaction, sentiment, sentiment_label, resolved
        FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    LEFT JOIN repeated rp ON rp.conversation_id = conversations.conversation_id
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
per_conversation AS (
    SELECT
        {keys},
        count(*) AS conversations,
        sum(message_count) AS messages,
        count(DISTINCT customer_id) AS customers,
        count(*) FILTER (WHERE customer_messages > 0 AND first_response_s IS NULL) AS unanswered,
        count(first_response_s) AS answered,
        100.0 * count(*) FILTER (WHERE agent_messages > 0) / count(*) AS reply_rate_pct,
        avg(CAST(first_response_s AS DECIMAL(18, 6))) AS frt_mean_s,
        quantile_cont(first_response_s, [0.5, 0.9]) AS frt_q,  -- one pass for both
        100.0 * count(*) FILTER (WHERE csat_rating >= 4) / nullif(count(csat_rating), 0)
            AS csat_pct,
        count(satisfaction) AS labeled,
        100.0 * count(*) FILTER (WHERE satisfaction >= 4) / nullif(count(satisfaction), 0)
            AS predicted_csat_pct,
        quantile_cont(
            CASE WHEN resolved THEN (epoch_us(ended_at) - epoch_us(started_at)) / 1e6 END,
            [0.5, 0.9]
        ) AS resolution_q,
        100.0 * count(*) FILTER (WHERE resolved) / nullif(count(resolved), 0) AS resolution_pct,
        100.0 * count(*) FILTER (WHERE resolved AND one_contact) / nullif(count(resolved), 0)
            AS fcr_pct,
        avg(CAST(sentiment AS DECIMAL(18, 6))) AS sentiment_mean,
        100.0 * count(*) FILTER (WHERE sentiment_label = 'positive')
            / nullif(count(sentiment_label), 0) AS positive_pct,
        100.0 * count(*) FILTER (WHERE sentiment_label = 'neutral')
            / nullif(count(sentiment_label), 0) AS neutral_pct,
        100.0 * count(*) FILTER (WHERE sentiment_label = 'negative')
            / nullif(count(sentiment_label), 0) AS negative_pct
    FROM c
    GROUP BY {keys}
),
per_reply AS (
    SELECT
        struct_pack({keys}) AS grp,
        count(u) AS replies,
        avg(u) / 1e6 AS response_mean_s,
        quantile_cont(u, [0.5, 0.9]) AS response_q_us
    FROM (
        SELECT {keys}, CAST(round(unnest(response_times_s) * 1e6) AS BIGINT) AS u FROM c
    )
    GROUP BY {keys}
),
per_business AS (
    -- the replies of the conversations of c, with their business time: a reply carries its
    -- conversation's start and org, and is partitioned like it ({days} names the columns
    -- conversations.year/month/day, hence the alias)
    SELECT
        struct_pack({keys}) AS grp,
        avg(b) FILTER (WHERE is_first) / 1e6 AS frt_business_mean_s,
        quantile_cont(b, [0.5, 0.9]) FILTER (WHERE is_first) AS frt_business_q_us,
        avg(b) / 1e6 AS response_business_mean_s,
        quantile_cont(b, [0.5, 0.9]) AS response_business_q_us
    FROM (
        SELECT
            CAST(date_trunc('{unit}', local_ts(coalesce(conversation_started_at, error(
                'replies written before conversation_started_at existed: re-collect them '
                || '(analytics collect ... --full-refresh)'
            )))) AS DATE) AS period,
            {org_expr} AS org_id,
            is_first,
            business_us AS b
        FROM replies_business AS conversations
        WHERE {business_hours}
          AND ($start IS NULL OR conversation_started_at >= $start)
          AND ($end IS NULL OR conversation_started_at < $end)
          AND ($org IS NULL OR org_id = $org)
          AND {days}
    )
    GROUP BY {keys}
)
SELECT
    {keys},
    conversations, messages, customers, unanswered, answered, reply_rate_pct,
    frt_mean_s, frt_q[1] AS frt_median_s, frt_q[2] AS frt_p90_s,
    coalesce(replies, 0) AS replies, response_mean_s,
    response_q_us[1] / 1e6 AS response_median_s, response_q_us[2] / 1e6 AS response_p90_s,
    frt_business_mean_s, frt_business_q_us[1] / 1e6 AS frt_business_median_s,
    frt_business_q_us[2] / 1e6 AS frt_business_p90_s,
    response_business_mean_s, response_business_q_us[1] / 1e6 AS response_business_median_s,
    response_business_q_us[2] / 1e6 AS response_business_p90_s,
    resolution_q[1] AS resolution_median_s, resolution_q[2] AS resolution_p90_s,
    csat_pct, labeled, predicted_csat_pct, resolution_pct, fcr_pct,
    sentiment_mean, positive_pct, neutral_pct, negative_pct,
    {metric_version} AS metric_version
-- joined on a struct of the keys: a NULL org is a group of its own, which USING (org_id) loses
FROM (SELECT *, struct_pack({keys}) AS grp FROM per_conversation)
LEFT JOIN per_reply USING (grp)
LEFT JOIN per_business USING (grp)
ORDER BY {keys}
