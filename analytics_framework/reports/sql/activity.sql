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
--   A customer is counted once a day: the days of a conversation are distinct already, and only
--   conversations whose customer has another conversation within two days of it (a local day is
--   at most 25 hours) are put through a DISTINCT with their customer.
WITH conv AS (
    SELECT
        conversation_id, customer_id, started_at, ended_at,
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
customer_days AS (
    -- each conversation's customer with the distinct local days they wrote on, in the range
    SELECT
        conversation_id,
        customer_id,
        started_at,
        ended_at,
        list_distinct(list_transform(
            list_filter(customer_quarters, x ->
                ($start IS NULL OR CAST(x AS BIGINT) * 900000000
                                   >= epoch_us(CAST($start AS TIMESTAMPTZ)))
                AND ($end IS NULL OR CAST(x AS BIGINT) * 900000000
                                     < epoch_us(CAST($end AS TIMESTAMPTZ)))),
            x -> CAST(local_ts(make_timestamptz(CAST(x AS BIGINT) * 900000000)) AS DATE)
        )) AS days
    FROM conv
    WHERE customer_id IS NOT NULL AND len(customer_quarters) > 0
),
shared AS (
    -- conversations whose customer has another one within two days: days may repeat there
    SELECT DISTINCT a.conversation_id
    FROM customer_days a
    JOIN customer_days b
      ON b.customer_id = a.customer_id AND b.conversation_id <> a.conversation_id
    WHERE epoch_us(b.started_at) < epoch_us(a.ended_at) + 172800000000
      AND epoch_us(a.started_at) < epoch_us(b.ended_at) + 172800000000
),
active AS (
    SELECT day, count(*) AS active_customers
    FROM (
        SELECT unnest(days) AS day
        FROM customer_days
        WHERE conversation_id NOT IN (SELECT conversation_id FROM shared)
        UNION ALL
        SELECT day
        FROM (
            SELECT DISTINCT customer_id, unnest(days) AS day
            FROM customer_days
            WHERE conversation_id IN (SELECT conversation_id FROM shared)
        )
    )
    GROUP BY day
),
-- @include activity_tail.sql
