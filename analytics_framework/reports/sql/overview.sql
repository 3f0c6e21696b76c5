-- overview: volume, unanswered, first response time and response time per period (and org).
-- Metric definitions v1 (DESIGN.md). Placeholders filled by the engine from a whitelist:
--   {unit} day|week|month   {keys} "period" or "period, org_id"   {org_expr} org_id or NULL
-- Parameters: $tz (IANA zone), $start/$end (UTC instants or NULL), $org (or NULL),
--   $first_day/$last_day (partition pruning, one day of slack each side for zone shifts).
WITH c AS (
    SELECT
        CAST(date_trunc('{unit}', timezone($tz, started_at)) AS DATE) AS period,
        {org_expr} AS org_id,
        customer_id,
        message_count,
        customer_messages,
        first_response_s,
        response_times_s
    FROM conversations
    WHERE ($start IS NULL OR started_at >= $start)
      AND ($end IS NULL OR started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND ($first_day IS NULL OR make_date(year, month, day) >= $first_day)
      AND ($last_day IS NULL OR make_date(year, month, day) <= $last_day)
),
per_conversation AS (
    SELECT
        {keys},
        count(*) AS conversations,
        sum(message_count) AS messages,
        count(DISTINCT customer_id) AS customers,
        count(*) FILTER (WHERE customer_messages > 0 AND first_response_s IS NULL) AS unanswered,
        count(first_response_s) AS answered,
        avg(first_response_s) AS frt_mean_s,
        quantile_cont(first_response_s, 0.5) AS frt_median_s,
        quantile_cont(first_response_s, 0.9) AS frt_p90_s
    FROM c
    GROUP BY {keys}
),
per_reply AS (
    SELECT
        {keys},
        count(r) AS replies,
        avg(r) AS response_mean_s,
        quantile_cont(r, 0.5) AS response_median_s,
        quantile_cont(r, 0.9) AS response_p90_s
    FROM (SELECT {keys}, unnest(response_times_s) AS r FROM c)
    GROUP BY {keys}
)
SELECT
    {keys},
    conversations, messages, customers, unanswered, answered,
    frt_mean_s, frt_median_s, frt_p90_s,
    coalesce(replies, 0) AS replies, response_mean_s, response_median_s, response_p90_s,
    {metric_version} AS metric_version
FROM per_conversation
LEFT JOIN per_reply USING ({keys})
ORDER BY {keys}
