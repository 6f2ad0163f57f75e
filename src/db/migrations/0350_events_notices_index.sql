-- The payer notices job (src/notifications/notices.ts) reads the subscription events after its
-- cursor. Its cursor moves only when it finds one, and it found them by scanning every event after
-- it: with payments only (no subscription events) each run read all events since the last
-- subscription notice, a scan that grew with the traffic (25 ms per run after 50,000 payments).
-- A partial index on just those events makes a run cost what it finds; payments' events never
-- enter it. The list is NOTICE_EVENTS, written out so the planner can match the query to it.
create index events_notices on events (id)
  where type in ('subscription.created', 'subscription.receipt', 'subscription.reminder');
