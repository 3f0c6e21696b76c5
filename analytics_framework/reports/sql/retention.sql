-- retention: do customers come back? Cohorts by first-seen day, day-1/7/30 retention, usage.
-- Metric definitions v1 (DESIGN.md, "retention (day N)"):
--   first seen   the start of the customer's first conversation over the whole lake (not only
--                the range), D = its calendar day in $tz; conversations are ordered by
--                (started_at, conversation_id), so a tie still has one first
--   eligible N   D + N is not after the lake's last day (the last day in $tz on which any
--                conversation starts, whatever --org says)
--   returned N   eligible, and another conversation of the customer (any but the first) starts
--                on a day >= D + N
--   dN_retention_pct  returned / eligible x 100, pooled over the customers of the row (never a
--                mean of cohort rates); NULL when no one is eligible yet
--   power user   a customer with at least $power_threshold conversations started in the row's
--                period (or, in the total row, in the range)
-- One rowset in three sections (the `section` key column):
--   cohorts  one row per --period: customers first seen in it (new_customers) with eligible /
--            returned / rate per N, and its usage: conversations started in it, the customers who
--            started them, conversations per customer, power users and their share
--   total    one row for the whole range, pooled the same way; period = the range's first day
--   weekly   weekly cohorts (Monday of the first-seen week) x weeks since first seen 0..12,
--            zeros included, up to the lake's last week: active_customers = cohort customers
--            with a conversation starting that week (week 0 is everyone), active_pct of the cohort
-- Range: cohorts are customers first seen in [$start, $end); their returns are looked for up to
--   the lake's last day, past --end-date. Usage counts conversations started in the range.
--   --org keeps that org's conversations only (first seen in the org, returns to it).
-- Conversations without a customer id are left out. --by is refused.
-- Pruning: none; first seen needs the whole lake (only five columns are read).
-- Determinism: counts are exact, rates divide them once; a total ORDER BY.
WITH conv AS (
    SELECT conversation_id, customer_id, started_at,
           CAST(local_ts(started_at) AS DATE) AS day
    FROM conversations
    WHERE customer_id IS NOT NULL
      AND ($org IS NULL OR org_id = $org)
),
numbered AS (
    SELECT *,
           row_number() OVER (PARTITION BY customer_id ORDER BY started_at, conversation_id) AS nth
    FROM conv
),
lake_end AS (
    SELECT max(CAST(local_ts(started_at) AS DATE)) AS last_day FROM conversations
),
seen AS (
    SELECT
        customer_id,
        min(started_at) AS first_at,
        min(day) AS first_day,
        max(day) FILTER (WHERE nth > 1) AS last_return_day
    FROM numbered
    GROUP BY customer_id
),
cohort AS (
    SELECT
        s.customer_id,
        s.first_day,
        CAST(date_trunc('{unit}', s.first_day) AS DATE) AS period,
        s.first_day + 1 <= l.last_day AS d1_eligible,
        s.first_day + 7 <= l.last_day AS d7_eligible,
        s.first_day + 30 <= l.last_day AS d30_eligible,
        coalesce(s.last_return_day >= s.first_day + 1, FALSE) AS d1_back,
        coalesce(s.last_return_day >= s.first_day + 7, FALSE) AS d7_back,
        coalesce(s.last_return_day >= s.first_day + 30, FALSE) AS d30_back
    FROM seen s, lake_end l
    WHERE ($start IS NULL OR s.first_at >= $start)
      AND ($end IS NULL OR s.first_at < $end)
),
in_range AS (
    SELECT customer_id, day, CAST(date_trunc('{unit}', day) AS DATE) AS period
    FROM conv
    WHERE ($start IS NULL OR started_at >= $start)
      AND ($end IS NULL OR started_at < $end)
),
per_period_customer AS (
    SELECT period, customer_id, count(*) AS n FROM in_range GROUP BY period, customer_id
),
per_range_customer AS (
    SELECT customer_id, count(*) AS n FROM in_range GROUP BY customer_id
),
cohort_rows AS (
    SELECT
        period,
        count(*) AS new_customers,
        count(*) FILTER (WHERE d1_eligible) AS d1_eligible,
        count(*) FILTER (WHERE d1_eligible AND d1_back) AS d1_returned,
        count(*) FILTER (WHERE d7_eligible) AS d7_eligible,
        count(*) FILTER (WHERE d7_eligible AND d7_back) AS d7_returned,
        count(*) FILTER (WHERE d30_eligible) AS d30_eligible,
        count(*) FILTER (WHERE d30_eligible AND d30_back) AS d30_returned
    FROM cohort
    GROUP BY period
),
cohort_total AS (
    SELECT
        count(*) AS new_customers,
        count(*) FILTER (WHERE d1_eligible) AS d1_eligible,
        count(*) FILTER (WHERE d1_eligible AND d1_back) AS d1_returned,
        count(*) FILTER (WHERE d7_eligible) AS d7_eligible,
        count(*) FILTER (WHERE d7_eligible AND d7_back) AS d7_returned,
        count(*) FILTER (WHERE d30_eligible) AS d30_eligible,
        count(*) FILTER (WHERE d30_eligible AND d30_back) AS d30_returned
    FROM cohort
),
usage_rows AS (
    SELECT
        period,
        sum(n) AS conversations,
        count(*) AS customers,
        count(*) FILTER (WHERE n >= $power_threshold) AS power_users
    FROM per_period_customer
    GROUP BY period
),
usage_total AS (
    SELECT
        sum(n) AS conversations,
        count(*) AS customers,
        count(*) FILTER (WHERE n >= $power_threshold) AS power_users
    FROM per_range_customer
),
periods AS (
    SELECT
        'cohorts' AS section,
        period,
        CAST(NULL AS BIGINT) AS weeks_since,
        coalesce(c.new_customers, 0) AS new_customers,
        coalesce(c.d1_eligible, 0) AS d1_eligible,
        coalesce(c.d1_returned, 0) AS d1_returned,
        coalesce(c.d7_eligible, 0) AS d7_eligible,
        coalesce(c.d7_returned, 0) AS d7_returned,
        coalesce(c.d30_eligible, 0) AS d30_eligible,
        coalesce(c.d30_returned, 0) AS d30_returned,
        coalesce(u.conversations, 0) AS conversations,
        coalesce(u.customers, 0) AS customers,
        coalesce(u.power_users, 0) AS power_users,
        CAST(NULL AS BIGINT) AS active_customers
    FROM cohort_rows c
    FULL OUTER JOIN usage_rows u USING (period)
),
total AS (
    SELECT
        'total' AS section,
        coalesce(CAST(local_ts(CAST($start AS TIMESTAMPTZ)) AS DATE),
                 (SELECT min(day) FROM in_range)) AS period,
        CAST(NULL AS BIGINT) AS weeks_since,
        c.new_customers, c.d1_eligible, c.d1_returned, c.d7_eligible, c.d7_returned,
        c.d30_eligible, c.d30_returned,
        coalesce(u.conversations, 0) AS conversations,
        u.customers,
        u.power_users,
        CAST(NULL AS BIGINT) AS active_customers
    FROM cohort_total c, usage_total u
    WHERE EXISTS (SELECT 1 FROM periods)
),
weekly_cohort AS (
    SELECT customer_id, CAST(date_trunc('week', first_day) AS DATE) AS cohort_week FROM cohort
),
weekly_size AS (
    SELECT cohort_week, count(*) AS new_customers FROM weekly_cohort GROUP BY cohort_week
),
weekly_active AS (
    SELECT
        w.cohort_week,
        date_diff('day', w.cohort_week, CAST(date_trunc('week', n.day) AS DATE)) // 7
            AS weeks_since,
        count(DISTINCT n.customer_id) AS active_customers
    FROM weekly_cohort w
    JOIN numbered n USING (customer_id)
    GROUP BY ALL
),
weekly AS (
    SELECT
        'weekly' AS section,
        s.cohort_week AS period,
        k.weeks_since,
        s.new_customers,
        NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL,
        coalesce(a.active_customers, 0) AS active_customers
    FROM weekly_size s
    CROSS JOIN (SELECT CAST(range AS BIGINT) AS weeks_since FROM range(0, 13)) k
    CROSS JOIN lake_end l
    LEFT JOIN weekly_active a
        ON a.cohort_week = s.cohort_week AND a.weeks_since = k.weeks_since
    WHERE s.cohort_week + 7 * CAST(k.weeks_since AS INTEGER) <= l.last_day
),
rows AS (
    SELECT * FROM periods
    UNION ALL SELECT * FROM total
    UNION ALL SELECT * FROM weekly
)
SELECT
    section,
    period,
    weeks_since,
    new_customers,
    d1_eligible,
    d1_returned,
    100.0 * d1_returned / nullif(d1_eligible, 0) AS d1_retention_pct,
    d7_eligible,
    d7_returned,
    100.0 * d7_returned / nullif(d7_eligible, 0) AS d7_retention_pct,
    d30_eligible,
    d30_returned,
    100.0 * d30_returned / nullif(d30_eligible, 0) AS d30_retention_pct,
    conversations,
    customers,
    conversations / nullif(customers, 0) AS conversations_per_customer,
    power_users,
    100.0 * power_users / nullif(customers, 0) AS power_users_pct,
    active_customers,
    100.0 * active_customers / nullif(new_customers, 0) AS active_pct,
    {metric_version} AS metric_version
FROM rows
ORDER BY
    CASE section WHEN 'cohorts' THEN 0 WHEN 'total' THEN 1 ELSE 2 END,
    period,
    weeks_since NULLS FIRST
