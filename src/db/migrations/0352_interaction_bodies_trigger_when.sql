-- The bodies of provider interactions are staged apart (0160) by a row trigger. Group commit now
-- splits them itself (src/db/rows.ts, interactionWithoutBody) and inserts both tables in its one
-- statement; a WHEN on the trigger lets those rows, which carry no body, skip the PL/pgSQL call.
-- Every other writer still sends bodies inline and the trigger stages them as before.
drop trigger provider_interactions_stage_bodies on provider_interactions;
create trigger provider_interactions_stage_bodies before insert on provider_interactions
  for each row when (new.request is not null or new.response is not null)
  execute function provider_interactions_stage_bodies();
