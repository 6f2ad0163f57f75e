-- A version per merchant and mode, moved by every change to its risk rules or list entries. A
-- process that holds merchants' rules in memory reads these versions once a second, in one query,
-- and reloads only the merchants whose version moved: before, it reloaded every merchant's rules
-- once a second (100 active merchants, 100 loads a second; 10,000, 10,000).
--
-- A trigger rather than the writers: a rule or entry changed by any path (the API, the back office,
-- the defaults a process makes, an operator's SQL) is seen. Edits are single rows, and rare.
create table risk_settings_versions (
  merchant_id text not null,
  mode text not null,
  version bigint not null,
  primary key (merchant_id, mode)
);

create function risk_settings_touch() returns trigger language plpgsql as $$
declare
  changed record;
begin
  if tg_op = 'DELETE' then changed := old; else changed := new; end if;
  insert into risk_settings_versions (merchant_id, mode, version)
  values (changed.merchant_id, changed.mode, 1)
  on conflict (merchant_id, mode) do update set version = risk_settings_versions.version + 1;
  return null;
end
$$;

create trigger risk_rules_touch after insert or update or delete on risk_rules
  for each row execute function risk_settings_touch();
create trigger risk_list_entries_touch after insert or update or delete on risk_list_entries
  for each row execute function risk_settings_touch();
