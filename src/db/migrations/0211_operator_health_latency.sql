-- Operator health also watches provider latency (p99 of the last 15 minutes against a week
-- earlier): what the last change was about and the latencies it compared.
alter table analytics_operator_health add column reason text not null default 'acceptance'
  check (reason in ('acceptance', 'latency'));
alter table analytics_operator_health add column latency_p99_now_ms integer;
alter table analytics_operator_health add column latency_p99_before_ms integer;
