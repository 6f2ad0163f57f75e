-- A payment's own events (payment.created, payment.succeeded, ...) have the payment as their
-- object: events_object already indexes them under the same value, and events_payment indexed them
-- a second time, two index entries a payment on the hot path. events_payment now holds only the
-- events that name a payment without being about it (a refund's, a dispute's); the payment's
-- timeline reads both indexes (src/payments/queries.ts, a BitmapOr).
drop index events_new_payment_id_idx;
create index events_payment_not_object on events (payment_id)
  where payment_id is not null and payment_id <> object_id;
