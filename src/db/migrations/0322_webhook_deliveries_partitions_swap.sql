-- Day partitions on webhook_deliveries, step 3 of 3, metadata only (no row is read or moved): the
-- table is renamed webhook_deliveries_legacy and attached, without a scan (its validated CHECK
-- proves the bound), as the first partition of a new partitioned table of the same name and shape
-- whose ids are time-ordered (centime_delivery_id, 0320); a default partition takes ids of days
-- with no partition yet; the days from the cutover on get their own partition (the partition job
-- keeps creating them ahead and drops expired ones, src/db/partitions.ts). The fan-out trigger
-- (webhooks_fan_out, 0270) and redelivery insert through the parent unchanged: the id is its default.
do $$
declare
  t partitioned_tables;
  day timestamptz;
  defs text[];
  def text;
  ix record;
begin
  select * into strict t from partitioned_tables where name = 'webhook_deliveries';
  -- Triggers move to the new parent (none today; kept general, as 0163).
  select coalesce(array_agg(pg_get_triggerdef(g.oid)), '{}') into defs
    from pg_trigger g where g.tgrelid = 'webhook_deliveries'::regclass and not g.tgisinternal;
  for def in select g.tgname from pg_trigger g where g.tgrelid = 'webhook_deliveries'::regclass and not g.tgisinternal loop
    execute format('drop trigger %I on webhook_deliveries', def);
  end loop;
  -- A partition may not have an identity column; dropping it is a catalog change (its sequence goes).
  alter table webhook_deliveries alter column id drop identity;
  create table webhook_deliveries_new (like webhook_deliveries including defaults including constraints including indexes including storage)
    partition by range (id);
  alter table webhook_deliveries_new drop constraint webhook_deliveries_before_cutover;
  alter table webhook_deliveries_new alter column id set default centime_delivery_id(clock_timestamp());
  -- Added while the parent is empty; on attach the legacy table's own (identical) key is adopted
  -- without checking its rows again.
  alter table webhook_deliveries_new add constraint webhook_deliveries_endpoint_id_fkey
    foreign key (endpoint_id) references webhook_endpoints (id) on delete cascade;
  alter table webhook_deliveries rename to webhook_deliveries_legacy;
  alter index webhook_deliveries_pkey rename to webhook_deliveries_legacy_pkey;
  alter table webhook_deliveries_new rename to webhook_deliveries;
  alter index webhook_deliveries_new_pkey rename to webhook_deliveries_pkey;
  execute format('alter table webhook_deliveries attach partition webhook_deliveries_legacy for values from (minvalue) to (%s)',
    t.cutover_id);
  -- The parent's indexes take the names the migrations gave them (the legacy ones get _legacy).
  for ix in
    select c.relname as child, p.relname as parent
      from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
     where c.relkind = 'i' and c.relname like 'webhook_deliveries\_%' and c.relname <> 'webhook_deliveries_legacy_pkey'
       and p.relname like 'webhook_deliveries_new\_%'
  loop
    execute format('alter index %I rename to %I', ix.child, ix.child || '_legacy');
    execute format('alter index %I rename to %I', ix.parent, ix.child);
  end loop;
  create table webhook_deliveries_default partition of webhook_deliveries default;
  day := t.cutover_at;
  while day < t.cutover_at + interval '7 days' loop
    execute format('create table %I partition of webhook_deliveries for values from (%s) to (%s)',
      'webhook_deliveries_p' || to_char(day at time zone 'utc', 'YYYYMMDD'),
      centime_delivery_id_floor(day), centime_delivery_id_floor(day + interval '1 day'));
    day := day + interval '1 day';
  end loop;
  foreach def in array defs loop
    execute def;
  end loop;
end
$$;
