-- Day partitions on idempotency_keys, step 2 of 3: prove the existing keys lie before the cutover
-- (a scan under SHARE UPDATE EXCLUSIVE: claims go on meanwhile).
alter table idempotency_keys validate constraint idempotency_keys_before_cutover;
