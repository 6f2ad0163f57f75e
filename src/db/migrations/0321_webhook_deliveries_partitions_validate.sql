-- Day partitions on webhook_deliveries, step 2 of 3: prove the existing rows lie before the
-- cutover. VALIDATE scans the table under SHARE UPDATE EXCLUSIVE: deliveries are claimed, updated
-- and queued meanwhile (new rows are checked as they arrive since 0320).
alter table webhook_deliveries validate constraint webhook_deliveries_before_cutover;
