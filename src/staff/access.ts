import type { AuthContext } from "../merchants/index.ts";
import { scopedPermissions } from "./permissions.ts";
import type { Access } from "./service.ts";

/** The access of the admin key (the platform owner) or of a merchant's key. */
export function accessOfAuth(auth: AuthContext): Access {
  if (auth.kind === "admin") {
    return {
      actor: { id: "owner", kind: "owner", credential: "admin_key", merchantId: null, mode: null },
      permissions: "all",
      auth,
    };
  }
  return {
    actor: {
      id: auth.keyId,
      kind: "api_key",
      credential: auth.keyId,
      merchantId: auth.merchantId,
      mode: auth.mode,
    },
    permissions: auth.permissions ? scopedPermissions(auth.permissions, auth.merchantId) : "all",
    auth,
  };
}
