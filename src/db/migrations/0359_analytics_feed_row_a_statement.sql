-- The analytics feed gets one row a statement (and a UTC day) instead of one row an event: the
-- group commit writes a batch's events in one statement, so a payment no longer costs two feed
-- rows with their two index entries each, but a share of one. The readers
-- (src/analytics/feed.ts) expand `event_ids` in order; rows written before this migration keep
-- their single `event_id`, and a reader reads both shapes, so nothing is rewritten.
--
-- Only metadata changes here (a nullable column, a dropped NOT NULL): no scan, no rewrite.
alter table analytics_feed add column event_ids text[];
alter table analytics_feed alter column event_id drop not null;

-- Events of one statement that fall on different UTC days (a test clock's) get one row a day, so
-- a day partition still holds the feed of its own day and is dropped with it.
create or replace function analytics_feed_append() returns trigger language plpgsql as $$
begin
  insert into analytics_feed (event_ids, created)
  select array_agg(e.id order by e.id), min(e.created)
    from new_events e
   group by date_trunc('day', e.created, 'UTC')
   order by min(e.id);
  return null;
end
$$;

-- Webhook attempts and voucher redemptions (0210): the same, their ids standing for events.
create or replace function analytics_feed_append_rows() returns trigger language plpgsql as $$
begin
  insert into analytics_feed (event_ids, created)
  select array_agg(r.id order by r.id), min(r.created)
    from new_rows r
   group by date_trunc('day', r.created, 'UTC')
   order by min(r.id);
  return null;
end
$$;
