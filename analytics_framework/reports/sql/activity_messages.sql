-- activity: when customers and agents write, and how many customers write each day.
-- One rowset in two sections (the `section` key column):
--   heatmap  168 rows, one per weekday (Mon..Sun) x hour of day (0..23) in $tz, zeros included:
--            customer_messages / agent_messages sent in that weekday-hour over the whole range;
--            weekdays = how many such weekdays the range holds; *_per_day = messages / weekdays
--            (the average per hour across days; NULL for a weekday the range does not hold).
--            period = the range's first day.
--   daily    one row per calendar day in $tz of the range, zeros included: that day's customer
--            and agent messages; active_customers = distinct customers who sent a message that
--            day; rolling_7d = mean active_customers over that day and the 6 before it, NULL
--            until the range holds 7 days.
-- Metric definitions v1 (DESIGN.md): agent = role 'agent' (a human); bot and system messages
--   never count. A customer is the conversation's customer of record (conversations.customer_id),
--   else the message's sender.
-- Range: messages by their own sent_at in [$start, $end), not by their conversation's start. The
--   range is the given days; an open end is the first / last day with a message.
-- Pruning: messages and conversations are partitioned by their conversation's start day, which is
--   never after a message's own day, so only partitions after --end-date (plus one day of slack
--   for zone shifts, $last_*) are pruned; a conversation that started long before the range can
--   still have messages inside it.
-- --period does not apply (the heatmap spans the range, the series is daily); --by is refused.
-- Determinism: counts are exact; averages divide exact integer sums once; a total ORDER BY.
WITH conversation_customer AS (
    SELECT conversation_id, customer_id
    FROM conversations
    WHERE ($last_y IS NULL OR year < $last_y OR (year = $last_y AND (month < $last_m
           OR (month = $last_m AND day <= $last_d))))
),
m AS (
    SELECT
        local_ts(messages.sent_at) AS local_at,
        messages.role,
        coalesce(cc.customer_id, messages.sender_id) AS customer_id
    FROM messages
    LEFT JOIN conversation_customer cc USING (conversation_id)
    WHERE messages.role IN ('customer', 'agent')
      AND ($start IS NULL OR messages.sent_at >= $start)
      AND ($end IS NULL OR messages.sent_at < $end)
      AND ($org IS NULL OR messages.org_id = $org)
      AND ($last_y IS NULL OR messages.year < $last_y OR (messages.year = $last_y
           AND (messages.month < $last_m OR (messages.month = $last_m
           AND messages.day <= $last_d))))
),
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
        count(*) FILTER (WHERE role = 'customer') AS customer_messages,
        count(*) FILTER (WHERE role = 'agent') AS agent_messages
    FROM m
    GROUP BY dow, hour
),
per_day AS (
    SELECT
        CAST(local_at AS DATE) AS day,
        count(*) FILTER (WHERE role = 'customer') AS customer_messages,
        count(*) FILTER (WHERE role = 'agent') AS agent_messages,
        count(DISTINCT customer_id) FILTER (WHERE role = 'customer') AS active_customers
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
        coalesce(p.active_customers, 0) AS active_customers,
        CASE WHEN count(*) OVER last_7 = 7
             THEN sum(coalesce(p.active_customers, 0)) OVER last_7 / 7 END AS rolling_7d
    FROM days d
    LEFT JOIN per_day p USING (day)
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
