-- engagement: bots, handoffs, leads and sessions per period (and org).
-- Metric definitions v1 (DESIGN.md):
--   bot_conversations      conversations with at least one bot message
--   contained              of those, the ones that end resolved with no human reply (resolved =
--                          the source status says so, else the labeler's verdict, as overview)
--   bot_containment_pct    contained / bot_conversations x 100; NULL when no bot conversation's
--                          resolution is known (an unlabeled lake whose source has no status):
--                          unknown is not "not contained"
--   handoffs               bot conversations where a human reply (role agent) follows a bot
--                          message: the last human reply is at or after the first bot message
--                          (at the same instant a reply sorts after the bot, model.ROLE_ORDER)
--                          (conversations.last_agent_at >= first_bot_at, written at load time;
--                          a row written before those columns existed takes them from its
--                          messages, handed_off)
--   handoff_pct            handoffs / bot_conversations x 100
--   bot_message_share_pct  bot messages / all messages x 100
--   leads                  conversations that are leads: a current stage (conversations.stage)
--                          or any stage change (stage_changes), or a sales intent (labels.intent
--                          'purchase', the default taxonomy's buying intent, or 'sales' in a
--                          custom one), or a sales objection (labels.objection not null)
--   converted_leads        leads with a stage whose stage (conversations.stage, else the last
--                          stage change) is a won stage ('won', 'closed won', any case); leads
--                          without a stage (marked by intent or objection) that ended resolved
--   lead_conversion_pct    converted_leads / leads x 100
--   session_*_s            session duration = last message - first message (ended_at -
--                          started_at), median and p90, continuous (quantile_cont)
--   messages_per_conversation  mean message_count
-- Means are avg() over DECIMAL(18, 6) (exact sums, the same whatever the thread order).
-- Placeholders and parameters as in overview.sql. messages and stage_changes are partitioned like
--   their conversation, so they are pruned with {days_ahead}: with this report's lookahead_days
--   = 1 it is the same day window as {days}, written without a table alias.
WITH conversation_facts AS (
    -- conversations; a lake written before they carried first_bot_at / last_agent_at reads
    -- them as NULL (UNION BY NAME adds the columns no file has)
    SELECT * FROM conversations
    UNION ALL BY NAME
    SELECT CAST(NULL AS TIMESTAMPTZ) AS first_bot_at, CAST(NULL AS TIMESTAMPTZ) AS last_agent_at
    WHERE FALSE
),
handed_off AS (
    -- handoffs of the bot conversations whose row has no first_bot_at (written before it
    -- existed), from their messages; reads no message when every row has it
    SELECT conversation_id
    FROM messages
    WHERE {days_ahead}
      AND conversation_id IN (
          SELECT conversation_id FROM conversation_facts conversations
          WHERE bot_messages > 0 AND first_bot_at IS NULL AND {days}
      )
    GROUP BY conversation_id
    HAVING max(sent_at) FILTER (WHERE role = 'agent') >= min(sent_at) FILTER (WHERE role = 'bot')
),
sc AS (
    -- the last stage change of each lead; ties in changed_at go to the greater stage name
    SELECT conversation_id, max({{'at': changed_at, 'stage': stage}}).stage AS last_stage
    FROM stage_changes
    WHERE {days_ahead}
    GROUP BY conversation_id
),
c AS (
    SELECT
        CAST(date_trunc('{unit}', local_ts(conversations.started_at)) AS DATE) AS period,
        {org_expr} AS org_id,
        message_count,
        bot_messages,
        agent_messages,
        (epoch_us(conversations.ended_at) - epoch_us(conversations.started_at)) / 1e6 AS session_s,
        coalesce(
            CASE WHEN lower(conversations.status) IN ('resolved', 'closed', 'solved', 'done')
                 THEN TRUE END,
            l.resolved
        ) AS resolved,
        CASE WHEN conversations.first_bot_at IS NOT NULL
             THEN conversations.last_agent_at >= conversations.first_bot_at
             ELSE conversations.conversation_id IN (SELECT conversation_id FROM handed_off) END
            AS handoff,
        coalesce(conversations.stage, sc.last_stage) AS stage,
        conversations.stage IS NOT NULL OR sc.conversation_id IS NOT NULL
            OR coalesce(l.intent IN ('purchase', 'sales'), FALSE) OR l.objection IS NOT NULL
            AS lead
    FROM conversation_facts conversations
    LEFT JOIN (
        SELECT conversation_id, resolved, intent, objection FROM labels WHERE status = 'labeled'
    ) l USING (conversation_id)
    LEFT JOIN sc USING (conversation_id)
    WHERE ($start IS NULL OR conversations.started_at >= $start)
      AND ($end IS NULL OR conversations.started_at < $end)
      AND ($org IS NULL OR conversations.org_id = $org)
      AND {days}
),
flagged AS (
    SELECT
        *,
        bot_messages > 0 AS bot,
        bot_messages > 0 AND agent_messages = 0 AND coalesce(resolved, FALSE) AS contained,
        lead AND CASE
            WHEN stage IS NOT NULL THEN lower(trim(stage)) IN ('won', 'closed won')
            ELSE coalesce(resolved, FALSE)
        END AS converted
    FROM c
)
SELECT
    {keys},
    count(*) AS conversations,
    count(*) FILTER (WHERE bot) AS bot_conversations,
    count(*) FILTER (WHERE contained) AS contained,
    CASE WHEN count(resolved) FILTER (WHERE bot) > 0 THEN
        100.0 * count(*) FILTER (WHERE contained) / count(*) FILTER (WHERE bot)
    END AS bot_containment_pct,
    count(*) FILTER (WHERE bot AND handoff) AS handoffs,
    100.0 * count(*) FILTER (WHERE bot AND handoff) / nullif(count(*) FILTER (WHERE bot), 0)
        AS handoff_pct,
    100.0 * sum(bot_messages) / nullif(sum(message_count), 0) AS bot_message_share_pct,
    count(*) FILTER (WHERE lead) AS leads,
    count(*) FILTER (WHERE converted) AS converted_leads,
    100.0 * count(*) FILTER (WHERE converted) / nullif(count(*) FILTER (WHERE lead), 0)
        AS lead_conversion_pct,
    quantile_cont(session_s, 0.5) AS session_median_s,
    quantile_cont(session_s, 0.9) AS session_p90_s,
    avg(CAST(message_count AS DECIMAL(18, 6))) AS messages_per_conversation,
    {metric_version} AS metric_version
FROM flagged
GROUP BY {keys}
ORDER BY {keys}
