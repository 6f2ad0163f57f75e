import { ApiError } from "../platform/errors.ts";
import { ALL_PERMISSIONS, isPermission, type Permission, PLATFORM_PERMISSIONS } from "./permissions.ts";
import { type Access, requireHoldsAll } from "./service.ts";

/**
 * A new key's permissions (null: unrestricted): known ones, on a secret key only, and all held
 * by whoever mints it. The API (`POST /v1/api_keys`) and the back office's form share this rule.
 */
export function restrictedKeyPermissions(
  access: Access,
  body: { type: string; permissions?: readonly string[] },
): string[] | null {
  if (body.permissions === undefined) {
    // An unrestricted secret key holds everything a merchant may: only a caller who does may mint one.
    if (body.type === "secret") {
      requireHoldsAll(
        access,
        ALL_PERMISSIONS.filter((p) => !PLATFORM_PERMISSIONS.has(p)),
        "permissions",
      );
    }
    return null;
  }
  if (body.type !== "secret") {
    throw new ApiError("parameter_invalid", "permissions", "Only secret keys can be restricted.");
  }
  const unknown = body.permissions.find((p) => !isPermission(p));
  if (unknown !== undefined) {
    throw new ApiError("parameter_invalid", "permissions", `No such permission: '${unknown}'.`);
  }
  requireHoldsAll(access, body.permissions as Permission[], "permissions");
  return [...body.permissions];
}
