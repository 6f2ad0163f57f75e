-- Who created each staff member: a staff id, a merchant's API key id or `owner`. Whoever creates a
-- staff member is handed that person's key, so four eyes refuses an approver the maker created
-- (src/staff/second-person.ts, docs/backoffice.md).
alter table staff add column created_by text;

-- Staff created before this column: their creator is the actor of the first successful audit
-- record about them (their creation; audit_events_object indexes the look-up).
update staff s set created_by = (
  select a.actor from audit_events a
   where a.object = s.id and a.outcome = 'success'
   order by a.id limit 1);
