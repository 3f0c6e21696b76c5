-- funnel: leads through their stages (stage_changes, from Mochi), per period (and org).
-- A lead is a conversation with stage changes; it belongs to the period (in $tz) of its entry,
-- its first stage change (its creation in the CRM), and --start-date/--end-date/--org select
-- leads by that entry and their org. Every figure of a row is about that period's new leads,
-- over their whole history (a cohort: a recent period's figures grow as its leads move on).
-- Two kinds of rows:
--   kind 'stage', one per stage of the order (below) for each period (and org) with new leads:
--     step                 the stage's place in the order (1 = first)
--     to_stage             the next stage of the order (NULL for the last and for 'lost')
--     new_leads            the period's new leads (the same on each of its stage rows)
--     leads                new leads that ever entered the stage
--     reached_next         of those, the ones that also entered to_stage (at any time; NULL
--                          without a to_stage)
--     conversion_pct       reached_next / leads x 100 (NULL without a to_stage or without leads)
--     stays                completed stays in the stage: entries followed by another change
--     time_in_stage_median_s  median of (the next change's changed_at - changed_at of entering
--                          the stage) over those stays, continuous; the current stage's open
--                          time is not counted
--   kind 'transition', one per (stage, to_stage) pair a new lead moved along:
--     stage, to_stage      from -> to, consecutive changes of one lead (its first change has no
--                          "from" and is counted in new_leads instead); step is stage's step
--     transitions          how many times
-- Stage order: when every stage name (trimmed, any case) is one of Mochi's pipeline
--   new lead -> qualified -> call booked -> won, and lost, that fixed order; otherwise the
--   stages ordered by the median time from a lead's entry to entering them, ties by name. 'lost'
--   (any case) is an exit, not a step: it comes last and is nobody's to_stage. The order is taken
--   over the leads of the report (all periods and orgs together), so every period shows the
--   same steps. A lead's changes are ordered by changed_at, then stage name.
-- stage_changes is read whole (no partition pruning): its partitions follow the conversation's
--   start, not the lead's entry, and it holds a few rows per lead.
-- Groups (period, org) are joined on grp, a struct of their keys: struct equality matches NULL
--   fields (an org-less lake run --by org), where USING (org_id) would not.
-- Placeholders and parameters as in overview.sql.
-- Row order is a total order: per period (and org), stage rows by step, then transitions by the
--   from-stage's step and to_stage.
WITH changes AS (
    SELECT
        conversation_id,
        org_id,
        stage,
        changed_at,
        lag(stage) OVER lead_order AS from_stage,
        lead(changed_at) OVER lead_order AS left_at,
        min(changed_at) OVER (PARTITION BY conversation_id) AS entered_at
    FROM stage_changes
    WHERE stage IS NOT NULL AND changed_at IS NOT NULL
      AND ($org IS NULL OR org_id = $org)
    WINDOW lead_order AS (PARTITION BY conversation_id ORDER BY changed_at, stage)
),
entries AS (
    SELECT
        conversation_id,
        CAST(date_trunc('{unit}', local_ts(min(changed_at))) AS DATE) AS period,
        min({org_expr}) AS org_id
    FROM changes
    GROUP BY conversation_id
    HAVING ($start IS NULL OR min(changed_at) >= $start)
       AND ($end IS NULL OR min(changed_at) < $end)
),
leads AS (SELECT conversation_id, {keys}, row({keys}) AS grp FROM entries),
groups AS (SELECT grp, {keys}, count(*) AS new_leads FROM leads GROUP BY grp, {keys}),
lead_changes AS (SELECT * FROM changes JOIN leads USING (conversation_id)),
stages AS (
    SELECT
        stage,
        lower(trim(stage)) AS name,
        quantile_cont((epoch_us(changed_at) - epoch_us(entered_at)) / 1e6, 0.5) AS offset_s
    FROM lead_changes
    GROUP BY stage
),
ordered AS (
    SELECT
        stage,
        name,
        row_number() OVER (
            ORDER BY
                name = 'lost',
                CASE WHEN fixed THEN
                    list_position(['new lead', 'qualified', 'call booked', 'won', 'lost'], name)
                END,
                offset_s,
                stage
        ) AS step
    FROM stages, (
        SELECT bool_and(name IN ('new lead', 'qualified', 'call booked', 'won', 'lost')) AS fixed
        FROM stages
    )
),
chain AS (
    SELECT
        stage,
        step,
        CASE WHEN name <> 'lost' THEN
            lead(stage) OVER (PARTITION BY name = 'lost' ORDER BY step)
        END AS next_stage
    FROM ordered
),
reached AS (SELECT DISTINCT grp, conversation_id, stage FROM lead_changes),
stage_rows AS (
    SELECT
        g.grp,
        s.stage,
        s.step,
        s.next_stage,
        count(DISTINCT r.conversation_id) AS leads,
        count(DISTINCT n.conversation_id) AS reached_next
    FROM groups g
    CROSS JOIN chain s
    LEFT JOIN reached r ON r.grp = g.grp AND r.stage = s.stage
    LEFT JOIN reached n
        ON n.grp = g.grp AND n.conversation_id = r.conversation_id AND n.stage = s.next_stage
    GROUP BY g.grp, s.stage, s.step, s.next_stage
),
stays AS (
    SELECT
        grp,
        stage,
        count(*) AS stays,
        quantile_cont((epoch_us(left_at) - epoch_us(changed_at)) / 1e6, 0.5)
            AS time_in_stage_median_s
    FROM lead_changes
    WHERE left_at IS NOT NULL
    GROUP BY grp, stage
),
moves AS (
    SELECT grp, from_stage AS stage, stage AS to_stage, count(*) AS transitions
    FROM lead_changes
    WHERE from_stage IS NOT NULL
    GROUP BY grp, from_stage, stage
),
rows_ AS (
    SELECT
        grp,
        'stage' AS kind,
        step,
        stage,
        next_stage AS to_stage,
        leads,
        CASE WHEN next_stage IS NOT NULL THEN reached_next END AS reached_next,
        CASE WHEN next_stage IS NOT NULL THEN 100.0 * reached_next / nullif(leads, 0) END
            AS conversion_pct,
        coalesce(stays, 0) AS stays,
        time_in_stage_median_s,
        CAST(NULL AS BIGINT) AS transitions
    FROM stage_rows
    LEFT JOIN stays USING (grp, stage)
    UNION ALL
    SELECT
        grp, 'transition', chain.step, moves.stage, to_stage,
        NULL, NULL, NULL, NULL, NULL, transitions
    FROM moves
    JOIN chain USING (stage)
)
SELECT
    {keys},
    kind,
    step,
    stage,
    to_stage,
    CASE WHEN kind = 'stage' THEN new_leads END AS new_leads,
    leads,
    reached_next,
    conversion_pct,
    stays,
    time_in_stage_median_s,
    transitions,
    {metric_version} AS metric_version
FROM rows_
JOIN groups USING (grp)
ORDER BY {keys}, kind, step, stage, to_stage NULLS LAST
