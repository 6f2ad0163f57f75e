-- The group commit writes a batch that needs no read in one statement outside any transaction
-- (src/commit/group-commit.ts): the statement is its own transaction. Where the batch's statement
-- inside a transaction reports a key another writer holds, or an audit lane whose head moved, for
-- the caller to roll back, this one must fail whole instead of committing the rest: its last
-- select calls this check, and the committer runs the batch again in a transaction, which finds
-- out which key or lane it was.
create function group_commit_check(claimed bigint, claims integer, heads bigint, heads_expected integer)
returns boolean language plpgsql as $$
begin
  -- The lane first: the batch then runs again after the head read under lock (AuditHeadMoved).
  if heads < heads_expected then
    raise exception 'group commit: the audit lane''s head moved' using errcode = 'CG412';
  end if;
  if claimed < claims then
    raise exception 'group commit: % of % idempotency keys claimed', claimed, claims using errcode = 'CG409';
  end if;
  return true;
end
$$;
