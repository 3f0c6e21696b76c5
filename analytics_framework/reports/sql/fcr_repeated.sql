-- repeated: the conversations that fail FCR's "no new conversation of the same customer within
-- 7 days" (overview.sql, agents.sql). Only conversations with one reply cycle can count for
-- FCR, so only they are joined to their customer's conversations, not a window over all of
-- them. The next one by started_at, then conversation_id, as a window would order them; pruned
-- like the range ({days}), plus 8 days after it ({days_ahead}) to see the next conversations;
-- the 7 days are 604800 s of epoch microseconds (exactly INTERVAL 7 DAY from an instant).
repeated AS (
    SELECT x.conversation_id
    FROM (
        SELECT conversation_id, customer_id, started_at FROM conversations
        WHERE response_count = 1 AND {days}
    ) AS x
    JOIN (
        SELECT conversation_id, customer_id, started_at FROM conversations WHERE {days_ahead}
    ) AS y ON y.customer_id = x.customer_id
    WHERE (y.started_at > x.started_at
           OR (y.started_at = x.started_at AND y.conversation_id > x.conversation_id))
      AND epoch_us(y.started_at) < epoch_us(x.started_at) + 604800000000
    GROUP BY x.conversation_id
),
