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
-- a day partition still holds the feed of its own day and is dropped with it. One function for
-- every table in the feed: events, and webhook attempts and voucher redemptions (0210), whose ids
-- stand for events. The events' trigger is made again to name its transition table as the others
-- do (a catalogue change, no scan).
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

drop trigger events_analytics_feed on events;
create trigger events_analytics_feed after insert on events
  referencing new table as new_rows
  for each statement execute function analytics_feed_append_rows();
drop function analytics_feed_append();
