export type Mode = "test" | "live";

/** Whose data a request may touch: one merchant, in one mode. Test and live never mix. */
export interface AuthScope {
  merchantId: string;
  mode: Mode;
}
