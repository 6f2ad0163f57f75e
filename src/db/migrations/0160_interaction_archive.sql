-- The wire log out of the primary (issue 17). Interaction metadata (who, when, outcome, latency,
-- attempt) stays in provider_interactions; request and response bodies are staged in a small
-- table by a trigger, in the same transaction as the metadata, and the archive job moves them to
-- compressed daily files on disk (src/payments/interaction-archive.ts). A crash between the two
-- loses nothing: a body leaves the staging table only in the transaction that records the block
-- of the file that holds it, after that file was fsynced.
create table provider_interaction_bodies (
  id text primary key,
  created timestamptz not null,
  request json,
  response json
);

-- One row per compressed block of an archive file: the bodies of interactions first_id..last_id
-- (ids are time-ordered). A block is found by the ids it covers.
create table provider_interaction_archive (
  file text not null,
  "offset" bigint not null,
  length integer not null,
  codec text not null,
  first_id text not null,
  last_id text not null,
  rows integer not null,
  created timestamptz not null,
  primary key (file, "offset")
);
create index provider_interaction_archive_ids on provider_interaction_archive (last_id, first_id);

-- Rows written from now on keep no bodies: has_body says the bodies are staged or archived.
-- Older rows keep theirs inline (has_body null) and are read as before.
alter table provider_interactions add column has_body boolean;

create function provider_interactions_stage_bodies() returns trigger language plpgsql as $$
begin
  if new.request is not null or new.response is not null then
    insert into provider_interaction_bodies (id, created, request, response)
      values (new.id, new.created, new.request, new.response);
    new.request := null;
    new.response := null;
    new.has_body := true;
  end if;
  return new;
end
$$;
create trigger provider_interactions_stage_bodies before insert on provider_interactions
  for each row execute function provider_interactions_stage_bodies();
