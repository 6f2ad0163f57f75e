-- The worker looks for pending refund requests whose payment was refunded in full some other way
-- (settleRefundedRequests): pending ones are few, so a partial index keeps the look cheap.
create index refund_requests_pending on refund_requests (created) where status = 'pending';
