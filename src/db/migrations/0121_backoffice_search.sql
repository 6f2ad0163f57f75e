-- Back-office search: a payment by the payer's number or a card's last four digits, per merchant.
create index payments_msisdn on payments (merchant_id, mode, (payment_method ->> 'msisdn'), id)
  where payment_method ->> 'msisdn' is not null;
create index payments_card_last4 on payments (merchant_id, mode, (payment_method ->> 'last4'), id)
  where payment_method ->> 'last4' is not null;
