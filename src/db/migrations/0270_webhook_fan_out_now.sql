-- An event stamped ahead of real time (a subscription renewed under a test clock moved days on)
-- was queued for delivery at its own time, so its webhooks waited for the wall clock to get
-- there. A delivery is due at once, or at the event's time when that is already past (which keeps
-- every earlier behaviour, fake clocks in the past included).
create or replace function webhooks_fan_out() returns trigger language plpgsql as $$
begin
  insert into webhook_deliveries
    (merchant_id, mode, endpoint_id, event_id, object_id, status, next_attempt_at, created, updated)
  select e.merchant_id, e.mode, w.id, e.id, e.object_id, 'pending', least(e.created, now()), e.created, e.created
  from new_events e
  join webhook_endpoints w
    on w.merchant_id = e.merchant_id and w.mode = e.mode and w.enabled
   and w.events && array['*', e.type]
  order by e.id, w.id;
  return null;
end
$$;
