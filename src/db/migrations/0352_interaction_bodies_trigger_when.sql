-- The bodies of provider interactions are staged apart (0160) by a row trigger. The write paths
-- (group commit, payments' insertRows, a payment's transition) now split them themselves
-- (src/db/rows.ts, stageInteractionBodies) and insert both tables in one statement; a WHEN on the
-- trigger lets those rows, which carry no body, skip the PL/pgSQL call. A writer that still sends
-- bodies inline (the interaction log's flush of exchanges nobody took, an instance of before this
-- migration) has them staged by the trigger as before.
drop trigger provider_interactions_stage_bodies on provider_interactions;
create trigger provider_interactions_stage_bodies before insert on provider_interactions
  for each row when (new.request is not null or new.response is not null)
  execute function provider_interactions_stage_bodies();
