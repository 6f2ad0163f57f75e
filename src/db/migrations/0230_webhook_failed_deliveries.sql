-- The back office lists a merchant's failed webhook deliveries, newest first (/admin/webhooks).
-- Given-up deliveries are few beside the delivered ones, so a partial index finds them without
-- walking every delivery of an endpoint; retrying ones are in the pending index already.
create index webhook_deliveries_failed on webhook_deliveries (merchant_id, mode, updated) where status = 'failed';
