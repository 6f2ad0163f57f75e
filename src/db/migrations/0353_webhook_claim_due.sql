-- The webhook workers' claim of due deliveries (src/events/delivery.ts, claimDueDeliveries) as a
-- function whose plan is generic. Sent as a statement, PostgreSQL planned it afresh on every poll
-- (a custom plan prunes partitions at planning, so it always looked cheaper): 3 to 10 ms over the
-- partitions of webhook_deliveries and events, five polls a second per worker, busy or idle
-- (pg_stat_statements.total_plan_time). The generic plan prunes when it starts and runs in about
-- the same time (0.05 ms a call with nothing due). The statement is the one it replaces.
create function webhook_claim_due(
  now_at timestamptz,
  ordering_after timestamptz,
  claim_max integer,
  lease_until timestamptz,
  token text
) returns table (
  id bigint,
  merchant_id text,
  mode text,
  endpoint_id text,
  manual boolean,
  attempt_count integer,
  url text,
  secret text,
  previous_secret text,
  event_id text,
  type text,
  event_created timestamptz,
  data json
)
language plpgsql volatile
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  with due as (
    select d.id
      from webhook_deliveries d
      join webhook_endpoints w on w.id = d.endpoint_id and w.enabled
     where d.status = 'pending' and d.next_attempt_at <= now_at
       and not exists (
             select 1 from webhook_deliveries p
              where p.endpoint_id = d.endpoint_id and p.object_id = d.object_id
                and p.status = 'pending' and p.id < d.id and p.created > ordering_after)
     order by d.next_attempt_at, d.id
     limit claim_max
     for update of d skip locked
  )
  update webhook_deliveries d
     set next_attempt_at = lease_until, lease_token = token, updated = now_at
    from due, webhook_endpoints w, events e
   where d.id = due.id and w.id = d.endpoint_id and e.id = d.event_id
  returning d.id, d.merchant_id, d.mode, d.endpoint_id, d.manual, d.attempt_count, w.url, w.secret,
            case when w.previous_secret_expires > now_at then w.previous_secret end,
            e.id, e.type, e.created, e.data;
end
$$;
