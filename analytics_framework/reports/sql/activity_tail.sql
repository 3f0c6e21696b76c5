-- The shared end of activity.sql (the rollup) and activity_messages.sql (the messages), which
-- each define before it:
--   m       (local_at TIMESTAMP in $tz, role 'customer'|'agent', n BIGINT messages) rows
--   active  (day DATE, active_customers BIGINT): distinct customers who wrote that day
-- It cuts the range into days, fills the heatmap (weekday x hour) and the daily series.
bounds AS (
    -- no message in the range: no bounds, so no rows (the table says nothing matched)
    SELECT
        coalesce(CAST(local_ts(CAST($start AS TIMESTAMPTZ)) AS DATE),
                 min(CAST(local_at AS DATE))) AS lo,
        coalesce(CAST(local_ts(CAST($end AS TIMESTAMPTZ)) AS DATE) - 1,
                 max(CAST(local_at AS DATE))) AS hi
    FROM m
    HAVING count(*) > 0
),
days AS (
    SELECT CAST(unnest(generate_series(CAST(lo AS TIMESTAMP), CAST(hi AS TIMESTAMP),
                                       INTERVAL 1 DAY)) AS DATE) AS day
    FROM bounds
),
weekdays AS (
    SELECT isodow(day) AS dow, count(*) AS weekdays FROM days GROUP BY dow
),
cells AS (
    SELECT
        isodow(local_at) AS dow,
        hour(local_at) AS hour,
        CAST(sum(n) FILTER (WHERE role = 'customer') AS BIGINT) AS customer_messages,
        CAST(sum(n) FILTER (WHERE role = 'agent') AS BIGINT) AS agent_messages
    FROM m
    GROUP BY dow, hour
),
per_day AS (
    SELECT
        CAST(local_at AS DATE) AS day,
        CAST(sum(n) FILTER (WHERE role = 'customer') AS BIGINT) AS customer_messages,
        CAST(sum(n) FILTER (WHERE role = 'agent') AS BIGINT) AS agent_messages
    FROM m
    GROUP BY day
),
heatmap AS (
    SELECT
        0 AS section_order,
        'heatmap' AS section,
        b.lo AS period,
        g.dow,
        g.hour,
        coalesce(c.customer_messages, 0) AS customer_messages,
        coalesce(c.agent_messages, 0) AS agent_messages,
        coalesce(w.weekdays, 0) AS weekdays,
        coalesce(c.customer_messages, 0) / nullif(w.weekdays, 0) AS customer_per_day,
        coalesce(c.agent_messages, 0) / nullif(w.weekdays, 0) AS agent_per_day,
        CAST(NULL AS BIGINT) AS active_customers,
        CAST(NULL AS DOUBLE) AS rolling_7d
    FROM bounds b
    CROSS JOIN (
        SELECT CAST(d.dow AS BIGINT) AS dow, CAST(h.hour AS BIGINT) AS hour
        FROM range(1, 8) d(dow), range(0, 24) h(hour)
    ) g
    LEFT JOIN cells c ON c.dow = g.dow AND c.hour = g.hour
    LEFT JOIN weekdays w ON w.dow = g.dow
),
daily AS (
    SELECT
        1 AS section_order,
        'daily' AS section,
        d.day AS period,
        isodow(d.day) AS dow,
        CAST(NULL AS BIGINT) AS hour,
        coalesce(p.customer_messages, 0) AS customer_messages,
        coalesce(p.agent_messages, 0) AS agent_messages,
        CAST(NULL AS BIGINT) AS weekdays,
        CAST(NULL AS DOUBLE) AS customer_per_day,
        CAST(NULL AS DOUBLE) AS agent_per_day,
        coalesce(a.active_customers, 0) AS active_customers,
        CASE WHEN count(*) OVER last_7 = 7
             THEN sum(coalesce(a.active_customers, 0)) OVER last_7 / 7 END AS rolling_7d
    FROM days d
    LEFT JOIN per_day p USING (day)
    LEFT JOIN active a USING (day)
    WINDOW last_7 AS (ORDER BY d.day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)
)
SELECT
    section,
    period,
    ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][dow] AS weekday,
    hour,
    customer_messages,
    agent_messages,
    weekdays,
    customer_per_day,
    agent_per_day,
    active_customers,
    rolling_7d,
    {metric_version} AS metric_version
FROM (SELECT * FROM heatmap UNION ALL SELECT * FROM daily)
ORDER BY section_order, period, dow, hour NULLS FIRST
