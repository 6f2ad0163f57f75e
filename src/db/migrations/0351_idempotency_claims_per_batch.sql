-- Claiming idempotency keys per batch instead of per row (issue 8: the claim trigger of 0325/0330
-- was the largest part of group commit's statement: for every key a PL/pgSQL call, an advisory
-- lock and a look-up planned over the day partitions; perf put the claim at about a third of
-- PostgreSQL's CPU per payment).
--
-- idempotency_claims_take(claims) does for a whole batch what the trigger did for each row, in the
-- same order and with the same guarantees:
-- 1. A key claimed twice in one statement fails the statement (21000), as before.
-- 2. It waits for every other transaction claiming one of these keys: per-key advisory locks, held
--    to commit, taken in key order (two batches never wait on each other in a cycle).
-- 3. Then, with a snapshot taken after those waits (a VOLATILE function's statements each take a
--    fresh one under READ COMMITTED), it looks the keys up: in the day partitions within 24 hours
--    of the batch's claims (0330's window, now over the batch), and in the partitions that span
--    many days whatever their age (the default one, and the legacy one of rows from before the
--    cutover), since a row going there could collide with an old one on its unique index.
-- 4. A key with a live claim (not expired at this claim's time) is not returned: the caller's
--    insert skips it and the claim is lost (the request answers from the stored record). Expired
--    claims of the other keys are deleted, so the new claim takes the key over.
-- It returns the rows to insert. The insert (claimKeysSql) still says ON CONFLICT DO NOTHING.
--
-- The row trigger stays for writers that do not go through this function (an instance still
-- running the code of before this migration, during a rolling deploy): the function marks its
-- transaction, and the trigger's WHEN skips rows inserted after it, without a PL/pgSQL call.
-- plan_cache_mode: the look-up's window is bound at run time, and PostgreSQL's default would plan
-- it afresh for most calls (a custom plan prunes day partitions at planning, so it looks cheaper):
-- 0.8 ms of planning per batch, measured with pg_stat_statements. The generic plan prunes them when
-- it starts.
create function idempotency_claims_take(claims json) returns setof idempotency_keys
language plpgsql volatile
set plan_cache_mode = force_generic_plan
as $$
declare
  batch idempotency_keys[];
  lo timestamptz;
  hi timestamptz;
  cutover timestamptz;
begin
  select array_agg(r order by r.merchant_id, r.mode, r.key), min(r.created), max(r.created)
    into batch, lo, hi
    from json_populate_recordset(null::idempotency_keys, claims) r;
  if batch is null then
    return;
  end if;
  if exists (select 1 from unnest(batch) c group by c.merchant_id, c.mode, c.key having count(*) > 1) then
    raise exception 'one idempotency key claimed twice in one statement' using errcode = 'cardinality_violation';
  end if;
  -- 64 bits of hash: two keys sharing a lock (they would only wait for each other) is negligible.
  -- unnest keeps the array's (key) order.
  perform pg_advisory_xact_lock(hashtextextended(c.merchant_id || '/' || c.mode || '/' || c.key, 17017))
     from unnest(batch) c;
  perform set_config('centime.idempotency_claims', 'taken', true);
  select t.cutover_at into strict cutover from partitioned_tables t where t.name = 'idempotency_keys';
  return query
  with found as (
    select f.merchant_id, f.mode, f.key, f.created, f.live
      from unnest(batch) c
      cross join lateral (
        select k.merchant_id, k.mode, k.key, k.created, k.expires_at > c.created as live
          from idempotency_keys k
         where k.merchant_id = c.merchant_id and k.mode = c.mode and k.key = c.key
           and k.created between lo - interval '24 hours' and hi + interval '24 hours'
        union all
        select k.merchant_id, k.mode, k.key, k.created, k.expires_at > c.created
          from idempotency_keys_default k
         where k.merchant_id = c.merchant_id and k.mode = c.mode and k.key = c.key
           and k.created not between lo - interval '24 hours' and hi + interval '24 hours'
        union all
        -- The legacy partition (pruned to nothing once it is dropped).
        select k.merchant_id, k.mode, k.key, k.created, k.expires_at > c.created
          from idempotency_keys k
         where k.merchant_id = c.merchant_id and k.mode = c.mode and k.key = c.key
           and k.created < cutover
           and k.created not between lo - interval '24 hours' and hi + interval '24 hours') f),
  taken as (select distinct merchant_id, mode, key from found where live),
  gone as (
    delete from idempotency_keys k using found f
     where not f.live
       and k.merchant_id = f.merchant_id and k.mode = f.mode and k.key = f.key and k.created = f.created
       and not exists (select 1 from taken t
                        where t.merchant_id = f.merchant_id and t.mode = f.mode and t.key = f.key))
  select c.* from unnest(batch) c
   where not exists (select 1 from taken t
                      where t.merchant_id = c.merchant_id and t.mode = c.mode and t.key = c.key);
end
$$;

drop trigger idempotency_keys_claim on idempotency_keys;
create trigger idempotency_keys_claim before insert on idempotency_keys
  for each row
  when (current_setting('centime.idempotency_claims', true) is distinct from 'taken')
  execute function idempotency_keys_claim();
