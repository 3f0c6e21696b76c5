-- languages: what languages customers write in (the lake's translations table, written by
-- analytics translate: analytics_framework/insights/translations.py), per period (and org).
-- Metric definitions v1 (DESIGN.md "translations"), over the conversations started in the
-- period that analytics translate has processed:
--   language            the conversation's language (translations.conversation_language: the
--                       language of most of its customer's letters; NULL: undetected)
--   conversations       conversations in that language
--   share_pct           conversations / the group's processed conversations x 100
--   messages            their messages
--   translated          conversations whose every message has status 'translated' (text_en
--                       from an LLM provider)
--   translated_pct      translated / conversations x 100; for English, 0 (nothing to do)
--   pending             conversations with a message not in English left untranslated (status
--                       'pending': processed offline, or 'failed')
-- Placeholders and parameters as in overview.sql; {keys} is "period" or "period, org_id".
-- Row order: per group, most conversations first, ties by language (NULL last).
WITH c AS (
    SELECT
        conversation_id,
        CAST(date_trunc('{unit}', local_ts(started_at)) AS DATE) AS period,
        {org_expr} AS org_id,
        year,
        month,
        day
    FROM conversations
    WHERE ($start IS NULL OR started_at >= $start)
      AND ($end IS NULL OR started_at < $end)
      AND ($org IS NULL OR org_id = $org)
      AND {days}
),
per_conversation AS (
    SELECT
        c.period,
        c.org_id,
        t.conversation_id,
        any_value(t.conversation_language) AS language,
        count(*) AS messages,
        bool_and(t.status = 'translated') AS translated,
        bool_or(t.status IN ('pending', 'failed')) AS pending
    FROM (SELECT * FROM translations AS conversations WHERE {days}) t
    JOIN c USING (conversation_id, year, month, day)
    GROUP BY c.period, c.org_id, t.conversation_id
)
SELECT
    {keys},
    language,
    count(*) AS conversations,
    100.0 * count(*) / sum(count(*)) OVER (PARTITION BY {keys}) AS share_pct,
    CAST(sum(messages) AS BIGINT) AS messages,
    count(*) FILTER (WHERE translated) AS translated,
    100.0 * count(*) FILTER (WHERE translated) / count(*) AS translated_pct,
    count(*) FILTER (WHERE pending) AS pending,
    {metric_version} AS metric_version
FROM per_conversation
GROUP BY {keys}, language
ORDER BY {keys}, conversations DESC, language NULLS LAST
