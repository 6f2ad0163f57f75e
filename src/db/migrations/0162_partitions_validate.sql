-- Time partitions, step 2 of 3: prove the existing rows lie before the cutover. VALIDATE scans the
-- table under SHARE UPDATE EXCLUSIVE: reads and writes go on meanwhile (new rows are checked as
-- they arrive since 0161).
do $$
declare
  t record;
begin
  for t in select * from partitioned_tables loop
    execute format('alter table %I validate constraint %I', t.name, t.name || '_before_cutover');
  end loop;
end
$$;
