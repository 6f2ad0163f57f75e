-- The embedded carrier network simulator (development and test mode only) keeps what its
-- operators hold across restarts, and tells a worker process where the API's simulator listens.
-- A handful of rows per installation ('state', 'address'): not a growing table.
create table if not exists simulator_state (
  name text primary key,
  value text not null,
  updated timestamptz not null default now()
);
