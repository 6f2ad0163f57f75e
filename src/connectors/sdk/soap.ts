import { XMLParser, XMLValidator } from "fast-xml-parser";
import { xmlEscape } from "./auth.ts";

/** SOAP 1.1: envelopes written by hand so namespaces and element order are exact. */
export const SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/";

/** `<name>text</name>`, escaped; `undefined` writes nothing (optional element). */
export function el(name: string, text: string | undefined): string {
  return text === undefined ? "" : `<${name}>${xmlEscape(text)}</${name}>`;
}

export function soapEnvelope(args: {
  namespaces: Record<string, string>;
  header?: string;
  body: string;
}): string {
  const ns = Object.entries(args.namespaces)
    .map(([prefix, uri]) => ` xmlns:${prefix}="${uri}"`)
    .join("");
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<soapenv:Envelope xmlns:soapenv="${SOAP_ENV_NS}"${ns}>` +
    `<soapenv:Header>${args.header ?? ""}</soapenv:Header>` +
    `<soapenv:Body>${args.body}</soapenv:Body></soapenv:Envelope>`
  );
}

export interface SoapFault {
  faultcode: string;
  faultstring: string;
  /** From `detail/*\/messageId` (ServiceException / PolicyException): the code that matters. */
  messageId: string | undefined;
  text: string | undefined;
  exception: string | undefined;
}

export interface SoapMessage {
  /** Body children with namespace prefixes removed; values are strings. */
  body: Record<string, unknown>;
  header: Record<string, unknown>;
  fault: SoapFault | undefined;
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
});

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function asText(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Parses a SOAP 1.1 message; throws on anything that is not a well-formed envelope. */
export function parseSoap(xml: string): SoapMessage {
  if (xml.includes("<!DOCTYPE") || xml.includes("<!ENTITY")) throw new Error("DTDs are not accepted");
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`malformed XML: ${valid.err.msg}`);
  const doc = asRecord(parser.parse(xml));
  const envelope = asRecord(doc.Envelope);
  if (!("Body" in envelope)) throw new Error("not a SOAP envelope");
  const body = asRecord(envelope.Body);
  const header = asRecord(envelope.Header);
  let fault: SoapFault | undefined;
  if ("Fault" in body) {
    const f = asRecord(body.Fault);
    const detail = asRecord(f.detail);
    const [exception, inner] = Object.entries(detail)[0] ?? [undefined, undefined];
    const ex = asRecord(inner);
    fault = {
      faultcode: asText(f.faultcode) ?? "",
      faultstring: asText(f.faultstring) ?? "",
      messageId: asText(ex.messageId),
      text: asText(ex.text),
      exception,
    };
  }
  return { body, header, fault };
}

export function soapFaultXml(args: {
  faultcode?: string;
  faultstring: string;
  exception: "ServiceException" | "PolicyException";
  messageId: string;
  text: string;
  commonNs: string;
}): string {
  return soapEnvelope({
    namespaces: {},
    body:
      `<soapenv:Fault><faultcode>${args.faultcode ?? "soapenv:Server"}</faultcode>` +
      `<faultstring>${xmlEscape(args.faultstring)}</faultstring><detail>` +
      `<ns2:${args.exception} xmlns:ns2="${args.commonNs}"><messageId>${args.messageId}</messageId>` +
      `<text>${xmlEscape(args.text)}</text></ns2:${args.exception}></detail></soapenv:Fault>`,
  });
}

export { asRecord, asText };
