-- scripts: the scripts setters send (the lake's scripts table, written by analytics scripts:
-- analytics_framework/insights/scripts.py), ranked by $sort, the first $limit.
-- Metric definitions v1 (DESIGN.md "scripts"), over the setter messages of the last build whose
-- conversation started in the range (and is of $org):
--   script_id / name / text  the script, its name and its most frequent normalised text
--   position                 the most frequent position of its messages: opener (the first
--                            human message of a conversation), follow-up (the lead had not
--                            answered the previous human message), later; ties in that order
--   uses                     messages of the script
--   setters                  distinct senders of them
--   conversations            distinct conversations with one
--   reply_rate_pct           messages the lead answered within 24 hours (their next message,
--                            reply_s <= 86400) / uses x 100
--   reply_median_s           median seconds to the lead's next message, over the answered ones
--                            (any delay; continuous, quantile_cont)
--   with_stage               messages in conversations with stage data (Mochi)
--   conversion_pct           messages after which the lead's stage changed / with_stage x 100;
--                            NULL without stage data
-- The period cuts nothing (a build spans its range): period = the first day of the range, else
-- the day of the first setter message of any script. A table holding two builds (an interrupted analytics scripts) stops
-- the report with a message to run it again. Ranked by $sort (uses or reply_rate_pct),
-- descending, ties by uses, then script_id: a total order.
WITH s AS (
    SELECT *
    FROM scripts AS conversations
    WHERE script_id IS NOT NULL
      AND {days}
      AND conversation_id IN (
          SELECT conversation_id FROM conversations
          WHERE ($start IS NULL OR started_at >= $start)
            AND ($end IS NULL OR started_at < $end)
            AND ($org IS NULL OR org_id = $org)
            AND {days}
      )
),
per_script AS (
    SELECT
        script_id,
        any_value(script_name) AS name,
        any_value(script_text) AS text,
        CASE
            WHEN count(*) FILTER (WHERE position = 'opener')
                 >= greatest(count(*) FILTER (WHERE position = 'follow-up'),
                             count(*) FILTER (WHERE position = 'later')) THEN 'opener'
            WHEN count(*) FILTER (WHERE position = 'follow-up')
                 >= count(*) FILTER (WHERE position = 'later') THEN 'follow-up'
            ELSE 'later'
        END AS position,
        count(*) AS uses,
        count(DISTINCT sender_id) AS setters,
        count(DISTINCT conversation_id) AS conversations,
        100.0 * count(*) FILTER (WHERE reply_s <= 86400) / count(*) AS reply_rate_pct,
        quantile_cont(reply_s, 0.5) AS reply_median_s,
        count(stage_after) AS with_stage,
        100.0 * count(*) FILTER (WHERE stage_after) / nullif(count(stage_after), 0)
            AS conversion_pct,
        min(sent_at) AS first_at
    FROM s
    GROUP BY script_id
),
ranked AS (
    SELECT
        *,
        row_number() OVER (
            ORDER BY
                CASE $sort WHEN 'reply_rate_pct' THEN reply_rate_pct ELSE uses END DESC,
                uses DESC,
                script_id
        ) AS rank,
        min(first_at) OVER () AS range_first
    FROM per_script
)
SELECT
    coalesce(CAST(local_ts(CAST($start AS TIMESTAMPTZ)) AS DATE),
             CAST(local_ts(range_first) AS DATE)) AS period,
    rank,
    script_id,
    name,
    text,
    position,
    uses,
    setters,
    conversations,
    reply_rate_pct,
    reply_median_s,
    with_stage,
    conversion_pct,
    -- an output column, so that DuckDB cannot drop the check
    {metric_version} + (
        SELECT CASE WHEN count(DISTINCT build_id) > 1 THEN error(
            'the scripts table holds two builds (an interrupted analytics scripts): '
            || 'run analytics scripts again'
        ) ELSE 0 END
        FROM s
    ) AS metric_version
FROM ranked
WHERE rank <= $limit
ORDER BY rank
