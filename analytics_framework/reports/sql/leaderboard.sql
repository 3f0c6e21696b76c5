-- leaderboard: the top $limit organisations (org_id) of each period, ranked by $sort.
-- Metrics, over conversations started in the period in $tz (as overview counts them):
--   conversations  conversations started
--   customers      distinct customers of those conversations
--   messages       their messages (message_count)
-- $sort picks the ranked metric (conversations | customers | messages; the declaration checks it);
--   ties rank by org_id, so every rank is one org.
--   share_pct   the org's metric / the period's total x 100. The total counts every conversation
--               of the period, those with no org too; for customers it is the period's distinct
--               customers, so an org-hopping customer counts once and shares may add up to more
--               than 100
--   previous    the org's metric in the period just before (NULL for the range's first period,
--               and for an org with no conversation in the previous period)
--   change_pct  (metric - previous) / previous x 100
-- Conversations with no org_id are in the totals, never ranked. --org keeps one org; --by is
--   refused (the report is already by org).
-- Placeholders: {unit} day|week|month; {days}: partition-day pruning with a day of slack.
-- Determinism: counts are exact, shares divide them once; a total ORDER BY.
WITH c AS (
    SELECT
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        org_id,
        customer_id,
        message_count
    FROM conversations
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
totals AS (
    SELECT
        period,
        CASE $sort
            WHEN 'customers' THEN count(DISTINCT customer_id)
            WHEN 'messages' THEN coalesce(sum(message_count), 0)
            ELSE count(*)
        END AS total
    FROM c
    GROUP BY period
),
per_org AS (
    SELECT
        period,
        org_id,
        count(*) AS conversations,
        count(DISTINCT customer_id) AS customers,
        coalesce(sum(message_count), 0) AS messages
    FROM c
    WHERE org_id IS NOT NULL
    GROUP BY period, org_id
),
scored AS (
    SELECT
        *,
        CASE $sort
            WHEN 'customers' THEN customers
            WHEN 'messages' THEN messages
            ELSE conversations
        END AS value
    FROM per_org
),
ranked AS (
    SELECT
        s.*,
        t.total,
        p.value AS previous,
        row_number() OVER (PARTITION BY s.period ORDER BY s.value DESC, s.org_id) AS rank
    FROM scored s
    JOIN totals t USING (period)
    LEFT JOIN scored p
        ON p.org_id = s.org_id
       AND p.period = CAST(s.period - INTERVAL 1 {unit} AS DATE)
)
SELECT
    period,
    rank,
    org_id,
    conversations,
    customers,
    messages,
    $sort AS metric,
    100.0 * value / nullif(total, 0) AS share_pct,
    previous,
    100.0 * (value - previous) / nullif(previous, 0) AS change_pct,
    {metric_version} AS metric_version
FROM ranked
WHERE rank <= $limit
ORDER BY period, rank
