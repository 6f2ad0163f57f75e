-- The claim trigger of 0325 looked the key up in every partition of idempotency_keys (its lookup
-- has no `created`, so every partition's unique index was probed: about ten with the seven days
-- made ahead), the most expensive part of group commit's batch statement. Only claims made within
-- a day of this one can matter, so a row going to a day partition looks only there, which
-- PostgreSQL prunes to three day partitions (yesterday, today, tomorrow).
--
-- Why a day each way:
-- * Before: a claim is live while expires_at > new.created, and every writer sets expires_at =
--   created + LIMITS.idempotency_retention_ms (idempotencyRowJson), one day: a live claim was made
--   less than a day before this one. A longer retention needs a wider window here
--   (test/idempotency/partitions.test.ts fails, naming this migration).
-- * After: a claim stamped later than this one (another instance's clock) is live too; a day
--   covers any clock skew between instances we could run with.
-- * Expired claims of the key must still go when they would collide with the new row on its
--   partition's unique index (the takeover after 24 h). A day partition holds one UTC day
--   (src/db/partitions.ts), so its rows are all within a day of the new one: the window finds
--   them. The legacy and default partitions span many days, so a row going there (stamped before
--   the cutover, or beyond the days made ahead) keeps 0325's full lookup. A BEFORE ROW trigger on
--   a partitioned table runs as the trigger of the partition the row goes to, so tg_table_name
--   names it (PostgreSQL 15 and PGlite alike).
-- Expired claims outside the window stay until the partition job drops their day; no reader sees
-- them (findIdempotencyRecord asks for expires_at > now).
--
-- '24 hours', not '1 day': a day in the session's time zone can be 23 hours. The bounds are
-- written as expressions on new.created, not as variables: timestamptz ± interval is only stable, so plpgsql's cached plan stays generic and is pruned when it starts. Variables
-- would be bound as constants and PostgreSQL would plan the statement afresh for every row (a
-- custom plan), several times slower than probing every partition.
create or replace function idempotency_keys_claim() returns trigger language plpgsql as $$
declare
  live boolean;
begin
  -- 64 bits of hash: two keys sharing a lock (they would only wait for each other) is negligible.
  perform pg_advisory_xact_lock(hashtextextended(new.merchant_id || '/' || new.mode || '/' || new.key, 17017));
  if tg_table_name ~ '^idempotency_keys_p[0-9]{8}$' then
    select bool_or(k.expires_at > new.created) into live
      from idempotency_keys k
     where k.merchant_id = new.merchant_id and k.mode = new.mode and k.key = new.key
       and k.created between new.created - interval '24 hours' and new.created + interval '24 hours';
    if live then
      return null;
    end if;
    if live is not null then
      delete from idempotency_keys k
       where k.merchant_id = new.merchant_id and k.mode = new.mode and k.key = new.key
         and k.created between new.created - interval '24 hours' and new.created + interval '24 hours';
    end if;
    return new;
  end if;
  select bool_or(k.expires_at > new.created) into live
    from idempotency_keys k
   where k.merchant_id = new.merchant_id and k.mode = new.mode and k.key = new.key;
  if live then
    return null;
  end if;
  if live is not null then
    delete from idempotency_keys k
     where k.merchant_id = new.merchant_id and k.mode = new.mode and k.key = new.key;
  end if;
  return new;
end
$$;
