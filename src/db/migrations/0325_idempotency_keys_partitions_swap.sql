-- Day partitions on idempotency_keys, step 3 of 3, metadata only: the table is renamed
-- idempotency_keys_legacy and attached (no scan: its validated CHECK proves the bound) under a new
-- table partitioned by range of `created`, with a default partition and the first 7 days.
--
-- The parent has no unique index (it would have to contain `created`): each partition keeps its
-- own unique index on (merchant_id, mode, key) (the legacy one its primary key; the partition job
-- creates it with each day, src/db/partitions.ts), and the claim trigger below makes a key live in
-- at most one partition at a time.

-- Before a key is inserted: wait for any other transaction claiming the same key (in any partition;
-- the lock is held to its commit), then look the key up everywhere. A live claim (not expired at
-- this claim's time) makes this insert a no-op (the row is skipped, so the claim is lost: the
-- caller answers from the stored record, 409 or a replay). Expired claims of the key are deleted,
-- so the new one takes the key over (what ON CONFLICT … WHERE expires_at <= created did).
-- Batches claim their keys in key order (claimKeysSql), so two batches never wait on each other
-- in a cycle.
create function idempotency_keys_claim() returns trigger language plpgsql as $$
declare
  live boolean;
begin
  -- 64 bits of hash: two keys sharing a lock (they would only wait for each other) is negligible.
  perform pg_advisory_xact_lock(hashtextextended(new.merchant_id || '/' || new.mode || '/' || new.key, 17017));
  select bool_or(k.expires_at > new.created) into live
    from idempotency_keys k
   where k.merchant_id = new.merchant_id and k.mode = new.mode and k.key = new.key;
  if live then
    return null;
  end if;
  if live is not null then
    delete from idempotency_keys k
     where k.merchant_id = new.merchant_id and k.mode = new.mode and k.key = new.key;
  end if;
  return new;
end
$$;

-- A statement that claims one key twice is refused whole (21000), as ON CONFLICT DO UPDATE refused
-- it before ("cannot affect row a second time"): group commit then commits that batch's requests
-- one by one (the first gets the key, the others lose it). Without this the trigger would skip the
-- second row, and a batch that won the key for one request and lost it for another would be
-- retried as it is, forever.
create function idempotency_claims_distinct(claims json) returns boolean language plpgsql stable as $$
begin
  if exists (select 1 from json_populate_recordset(null::idempotency_keys, claims)
              group by merchant_id, mode, key having count(*) > 1) then
    raise exception 'one idempotency key claimed twice in one statement' using errcode = 'cardinality_violation';
  end if;
  return true;
end
$$;

do $$
declare
  t partitioned_tables;
  day timestamptz;
  part text;
begin
  select * into strict t from partitioned_tables where name = 'idempotency_keys';
  create table idempotency_keys_new (like idempotency_keys including defaults including storage)
    partition by range (created);
  -- The same definition as the legacy table's index (0002), so attaching adopts it without a build.
  create index idempotency_keys_new_unfinished on idempotency_keys_new (resource_id) where status_code is null;
  alter table idempotency_keys rename to idempotency_keys_legacy;
  alter index idempotency_keys_pkey rename to idempotency_keys_legacy_pkey;
  alter index idempotency_keys_unfinished rename to idempotency_keys_legacy_unfinished;
  alter index idempotency_keys_expiry rename to idempotency_keys_legacy_expiry;
  alter table idempotency_keys_new rename to idempotency_keys;
  alter index idempotency_keys_new_unfinished rename to idempotency_keys_unfinished;
  execute format('alter table idempotency_keys attach partition idempotency_keys_legacy for values from (minvalue) to (%L)',
    t.cutover_id);
  create table idempotency_keys_default partition of idempotency_keys default;
  create unique index idempotency_keys_default_key on idempotency_keys_default (merchant_id, mode, key);
  -- The prune (delete_expired_idempotency_keys) still runs on the default partition.
  create index idempotency_keys_default_expiry on idempotency_keys_default (expires_at);
  day := t.cutover_at;
  while day < t.cutover_at + interval '7 days' loop
    part := 'idempotency_keys_p' || to_char(day at time zone 'utc', 'YYYYMMDD');
    execute format('create table %I partition of idempotency_keys for values from (%L) to (%L)', part, day, day + interval '1 day');
    execute format('create unique index %I on %I (merchant_id, mode, key)', part || '_key', part);
    day := day + interval '1 day';
  end loop;
  create trigger idempotency_keys_claim before insert on idempotency_keys
    for each row execute function idempotency_keys_claim();
end
$$;
