/**
 * Messages to payers by SMS (the operators' SMS APIs) or e-mail (a pluggable sender), recorded in
 * `payer_messages`; in development a catcher keeps them for the API to list. docs/payers.md.
 */

export { SMTP_TIMEOUT_MS, smtpChannel } from "./email.ts";
export {
  NOTICE_EVENTS,
  NOTICE_EVENTS_SQL,
  NOTICE_LOOKBACK_MS,
  NOTICE_SETTLE_MS,
  runNotices,
} from "./notices.ts";
export {
  type Channel,
  type ChannelName,
  catcherChannel,
  type DeliveryResult,
  listCaughtMessages,
  Notifier,
  type OutgoingMessage,
  presentMessage,
  type SentMessage,
} from "./notifier.ts";
export { operatorSmsChannel, SMS_DEADLINE_MS } from "./sms.ts";
export { localeOf, messageText, NOTIFICATION_CATALOGUES } from "./templates.ts";
