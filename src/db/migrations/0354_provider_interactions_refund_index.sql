-- The analytics ingest (src/analytics/rollups.ts, DECIDED_CALLS_SQL) reads the provider calls of
-- the payments and refunds its batch decides: by payment_id (indexed since 0001) and by refund_id,
-- which had no index. Any batch with a refund in it scanned every partition of
-- provider_interactions, and so did every batch once PostgreSQL settled on the prepared
-- statement's generic plan (it cannot know the refund list is empty): 200 ms a batch after
-- 50,000 payments, and growing with the table, in the worker of `--role worker`. Partial: only
-- refunds' calls carry a refund_id.
create index provider_interactions_refund on provider_interactions (refund_id) where refund_id is not null;
