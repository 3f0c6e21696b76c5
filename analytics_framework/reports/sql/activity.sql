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
-- How it stays fast over millions of messages: it reads no message. Each conversation carries
--   the UTC quarter-hours its customer and its humans wrote in, with the messages in each
--   (conversations.customer_quarters / agent_quarters, written at load). Every zone's offset
--   and transitions fall on quarter-hours (the engine checks, and runs activity_messages.sql,
--   the same report from the messages, when they do not, or when rows predate the columns), so
--   a quarter-hour lies in one local hour and day, and [$start, $end) starts and ends on one.
--   A customer is counted once a day: each UTC quarter-hour a customer wrote in is given its
--   local day once (qday, a few thousand rows), a conversation whose first and last quarter-hour
--   fall on one local day is that day (no list is walked), the others are unnested, and the
--   (customer, day) pairs go through one DISTINCT.
WITH conv AS (
    SELECT
        customer_id,
        customer_quarters, customer_quarter_messages, agent_quarters, agent_quarter_messages
    FROM conversations
    WHERE ($org IS NULL OR org_id = $org)
      AND ($start IS NULL OR ended_at >= $start)
      AND ($end IS NULL OR started_at < $end)
      AND ($last_y IS NULL OR year < $last_y OR (year = $last_y AND (month < $last_m
           OR (month = $last_m AND day <= $last_d))))
),
quarters AS (
    -- messages per UTC quarter-hour and role over the range
    SELECT q, role, CAST(sum(n) AS BIGINT) AS n
    FROM (
        SELECT 'customer' AS role, unnest(customer_quarters) AS q,
               unnest(customer_quarter_messages) AS n
        FROM conv
        UNION ALL
        SELECT 'agent' AS role, unnest(agent_quarters) AS q, unnest(agent_quarter_messages) AS n
        FROM conv
    )
    WHERE ($start IS NULL OR CAST(q AS BIGINT) * 900000000 >= epoch_us(CAST($start AS TIMESTAMPTZ)))
      AND ($end IS NULL OR CAST(q AS BIGINT) * 900000000 < epoch_us(CAST($end AS TIMESTAMPTZ)))
    GROUP BY q, role
),
m AS (
    -- the same, at its wall-clock time in $tz
    SELECT local_ts(make_timestamptz(CAST(q AS BIGINT) * 900000000)) AS local_at, role, n
    FROM quarters
),
qday AS (
    -- the local day of each UTC quarter-hour a customer wrote in, in the range
    SELECT q, CAST(local_ts(make_timestamptz(CAST(q AS BIGINT) * 900000000)) AS DATE) AS day
    FROM quarters
    WHERE role = 'customer'
),
monotone AS (
    -- local days never go back as time goes on (no clock set back across midnight)
    SELECT coalesce(bool_and(day >= prev), TRUE) AS ok
    FROM (SELECT day, lag(day) OVER (ORDER BY q) AS prev FROM qday)
),
ends AS (
    -- each conversation's customer, with the local days of its first and last quarter-hour
    SELECT e.customer_id, e.customer_quarters, d1.day AS d1, d2.day AS d2
    FROM (
        SELECT customer_id, customer_quarters,
               customer_quarters[1] AS q1, customer_quarters[-1] AS q2
        FROM conv
        WHERE customer_id IS NOT NULL AND len(customer_quarters) > 0
    ) e
    LEFT JOIN qday d1 ON d1.q = e.q1
    LEFT JOIN qday d2 ON d2.q = e.q2
),
customer_days AS (
    -- (customer, day) for every day a customer wrote on: a conversation within one day (both
    -- ends in the range, on one day, days in order) is that day; the others, quarter by quarter
    SELECT customer_id, d1 AS day
    FROM ends
    WHERE d1 = d2 AND (SELECT ok FROM monotone)
    UNION ALL
    SELECT x.customer_id, qday.day
    FROM (
        SELECT customer_id, unnest(customer_quarters) AS q
        FROM ends
        WHERE d1 IS DISTINCT FROM d2 OR d1 IS NULL OR NOT (SELECT ok FROM monotone)
    ) x
    JOIN qday USING (q)
),
active AS (
    SELECT day, count(*) AS active_customers
    FROM (SELECT DISTINCT customer_id, day FROM customer_days)
    GROUP BY day
),
-- @include activity_tail.sql
