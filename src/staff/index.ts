/** Staff accounts, roles and permissions, personal keys, passwords and second factors. */

export { accessOfAuth } from "./access.ts";
export { restrictedKeyPermissions } from "./key-permissions.ts";
export {
  ALL_PERMISSIONS,
  DEFAULT_ROLE_NAMES,
  DEFAULT_ROLES,
  isPermission,
  PERMISSIONS,
  type Permission,
  PLATFORM_PERMISSIONS,
  permissionForRoute,
  scopedPermissions,
} from "./permissions.ts";
export { type NotASecondPerson, notASecondPerson } from "./second-person.ts";
export { isStaffKey, newSessionToken, passwordMatches, totpMatches, totpStep, totpUri } from "./secrets.ts";
export {
  type Access,
  holds,
  presentStaff,
  requireHoldsAll,
  requirePermission,
  StaffDirectory,
  type StaffRow,
} from "./service.ts";
