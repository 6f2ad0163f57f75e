/**
 * A small declaration for the untyped `smpp` package (farhadi/node-smpp 0.5.1): only what
 * Centime uses. PDU fields are read as `unknown` and narrowed where they are used.
 * Use it as `import smpp from "smpp"` (CommonJS default export).
 */
declare module "smpp" {
  import type { EventEmitter } from "node:events";
  import type { Server as NetServer, Socket } from "node:net";

  namespace smpp {
    interface PDU {
      command: string;
      command_id: number;
      command_status: number;
      sequence_number: number;
      [field: string]: unknown;
      isResponse(): boolean;
      response(options?: Record<string, unknown>): PDU;
    }

    type Callback = (pdu: PDU) => void;

    interface Session extends EventEmitter {
      socket: Socket;
      send(pdu: PDU, responseCallback?: Callback, sendCallback?: Callback): boolean;
      bind_transceiver(options: Record<string, unknown>, callback?: Callback): boolean;
      submit_sm(options: Record<string, unknown>, callback?: Callback): boolean;
      deliver_sm(options: Record<string, unknown>, callback?: Callback): boolean;
      query_sm(options: Record<string, unknown>, callback?: Callback): boolean;
      enquire_link(options?: Record<string, unknown>, callback?: Callback): boolean;
      unbind(options?: Record<string, unknown>, callback?: Callback): boolean;
      close(callback?: () => void): void;
      destroy(callback?: () => void): void;
    }

    interface Server extends NetServer {
      sessions: Session[];
    }

    interface TlvTypes {
      int8: unknown;
      int16: unknown;
      int32: unknown;
      cstring: unknown;
      string: unknown;
      buffer: unknown;
    }
  }

  const smpp: {
    createServer(options: Record<string, unknown>, listener?: (session: smpp.Session) => void): smpp.Server;
    connect(options: { url?: string; host?: string; port?: number; auto_enquire_link_period?: number }, listener?: () => void): smpp.Session;
    addTLV(tag: string, options: { id: number; type: unknown }): void;
    types: { tlv: smpp.TlvTypes };
    ESME_ROK: number;
    ESME_RINVSYSID: number;
    ESME_RINVPASWD: number;
    ESME_RBINDFAIL: number;
    ESME_RSUBMITFAIL: number;
    ESME_RQUERYFAIL: number;
    ESME_RTHROTTLED: number;
    ESME_RSYSERR: number;
    ESME_RINVDSTADR: number;
    ESME_RINVBNDSTS: number;
  };
  export = smpp;
}
