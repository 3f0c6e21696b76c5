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
        coalesce(cc.customer_id, messages.sender_id) AS customer_id,
        1 AS n
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
active AS (
    SELECT CAST(local_at AS DATE) AS day, count(DISTINCT customer_id) AS active_customers
    FROM m
    WHERE role = 'customer'
    GROUP BY day
),
-- @include activity_tail.sql
