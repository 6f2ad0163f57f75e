import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { presentApproval } from "../approvals/index.ts";
import { type ListParams, pageOf } from "../db/pages.ts";
import { ListQuery } from "../http/index.ts";
import { isTimeZone } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import {
  DEFAULT_ROLE_NAMES,
  PERMISSIONS,
  presentStaff,
  requireHoldsAll,
  totpUri as totpUriFor,
} from "../staff/index.ts";
import { type BackOfficeServices, idempotentWrite, sendJson } from "./context.ts";
import {
  Approval,
  CatalogueListQuery,
  CreatedStaff,
  errors,
  Id,
  IdParams,
  ListOf,
  Permission,
  Role,
  Staff,
} from "./routes-schemas.ts";

/** Staff members, their roles and the permissions a role can hold. */
export function staffRoutes(app: FastifyInstance, services: BackOfficeServices, tags: string[]): void {
  app.post(
    "/staff",
    {
      schema: {
        tags,
        operationId: "createStaff",
        summary: "Invite a staff member (platform) or a merchant's team member; returns a personal key once.",
        body: Type.Object(
          {
            email: Type.String({ pattern: "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", maxLength: 254 }),
            role: Type.String({ minLength: 1, maxLength: 64 }),
            merchant: Type.Optional(Id),
            mode: Type.Optional(Type.Union([Type.Literal("test"), Type.Literal("live")])),
            password: Type.Optional(Type.String({ minLength: 12, maxLength: 200 })),
            time_zone: Type.Optional(Type.String({ maxLength: 64 })),
            locale: Type.Optional(Type.String({ pattern: "^[a-z]{2}$" })),
          },
          { additionalProperties: false },
        ),
        response: { 201: CreatedStaff, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as Parameters<typeof services.staff.create>[2];
      if (body.time_zone && !isTimeZone(body.time_zone)) throw new ApiError("parameter_invalid", "time_zone");
      return idempotentWrite(services, request, reply, async (tx, nowMs) => {
        const created = await services.staff.create(tx, request.access, body, nowMs);
        const shown = {
          staff: presentStaff(created.staff),
          api_key: created.apiKey,
          totp: { secret: created.totpSecret, uri: totpUriFor(created.staff.email, created.totpSecret) },
        };
        return {
          statusCode: 201,
          body: JSON.stringify(shown),
          storedBody: JSON.stringify({ ...shown, api_key: null, totp: null }),
        };
      });
    },
  );

  app.get(
    "/staff",
    {
      schema: {
        tags,
        operationId: "listStaff",
        summary: "Staff of the platform or of your merchant, newest first.",
        querystring: ListQuery,
        response: { 200: ListOf(Staff), ...errors },
      },
    },
    async (request, reply) => {
      const page = await services.staff.page(request.access.actor.merchantId, request.query as ListParams);
      return sendJson(reply, 200, {
        object: "list",
        data: page.rows.map(presentStaff),
        has_more: page.hasMore,
      });
    },
  );

  app.get(
    "/staff/:id",
    {
      schema: {
        tags,
        operationId: "getStaff",
        summary: "A staff member.",
        params: IdParams,
        response: { 200: Staff, ...errors },
      },
    },
    async (request, reply) => {
      const row = await services.staff.get(services.db, (request.params as { id: string }).id);
      const merchantId = request.access.actor.merchantId;
      if (!row || (merchantId !== null && row.merchant_id !== merchantId)) {
        throw new ApiError("resource_missing", "id", "No such staff member.");
      }
      return sendJson(reply, 200, presentStaff(row));
    },
  );

  app.post(
    "/staff/:id/role",
    {
      schema: {
        tags,
        operationId: "changeStaffRole",
        summary: "Ask for a role change; a second person with staff:manage approves it (202).",
        params: IdParams,
        body: Type.Object(
          { role: Type.String({ minLength: 1, maxLength: 64 }) },
          { additionalProperties: false },
        ),
        response: { 202: Approval, ...errors },
      },
    },
    async (request, reply) => {
      const id = (request.params as { id: string }).id;
      const { role } = request.body as { role: string };
      const access = request.access;
      return idempotentWrite(services, request, reply, async (tx, nowMs) => {
        const staff = await services.staff.get(tx, id);
        if (!staff || (access.actor.merchantId !== null && staff.merchant_id !== access.actor.merchantId)) {
          throw new ApiError("resource_missing", "id", "No such staff member.");
        }
        const permissions = await services.staff.rolePermissions(tx, staff.merchant_id, role);
        if (!permissions) throw new ApiError("parameter_invalid", "role", `No such role: '${role}'.`);
        requireHoldsAll(access, permissions, "role");
        const approval = await services.approvals.request(
          tx,
          access,
          "staff.role_change",
          { staff: id, from: staff.role, role },
          { merchantId: staff.merchant_id, mode: staff.mode },
          nowMs,
        );
        return { statusCode: 202, body: JSON.stringify(presentApproval(approval, nowMs)) };
      });
    },
  );

  app.get(
    "/roles",
    {
      schema: {
        tags,
        operationId: "listRoles",
        summary: "Custom roles newest first, then the default roles, with their permissions.",
        querystring: CatalogueListQuery("role id"),
        response: { 200: ListOf(Role), ...errors },
      },
    },
    async (request, reply) => {
      const roles = newestFirst(await services.staff.listRoles(request.access.actor.merchantId));
      const page = pageOf(roles, (role) => role.id, request.query as ListParams);
      return sendJson(reply, 200, { object: "list", data: page.rows, has_more: page.hasMore });
    },
  );

  app.post(
    "/roles",
    {
      schema: {
        tags,
        operationId: "createRole",
        summary: "Define a custom role from permissions you hold yourself.",
        body: Type.Object(
          {
            name: Type.String({ pattern: "^[a-z][a-z0-9_-]{1,40}$" }),
            permissions: Type.Array(Type.String({ maxLength: 64 }), {
              minItems: 1,
              maxItems: 100,
              uniqueItems: true,
            }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Role, ...errors },
      },
    },
    async (request, reply) =>
      idempotentWrite(services, request, reply, async (tx, nowMs) => ({
        statusCode: 201,
        body: JSON.stringify(
          await services.staff.createRole(
            tx,
            request.access,
            request.body as { name: string; permissions: string[] },
            nowMs,
          ),
        ),
      })),
  );

  app.get(
    "/permissions",
    {
      schema: {
        tags,
        operationId: "listPermissions",
        summary: "The permission catalogue, in its own order.",
        querystring: CatalogueListQuery("permission name"),
        response: { 200: ListOf(Permission), ...errors },
      },
    },
    async (request, reply) => {
      const page = pageOf(PERMISSION_LIST, (permission) => permission.name, request.query as ListParams);
      return sendJson(reply, 200, {
        object: "list",
        data: page.rows,
        has_more: page.hasMore,
        default_roles: DEFAULT_ROLE_NAMES,
      });
    },
  );
}

const PERMISSION_LIST = Object.entries(PERMISSIONS).map(([name, description]) => ({
  object: "permission" as const,
  name,
  description,
}));

/**
 * Custom roles newest first (their ids sort by time), then the default roles, which have no
 * creation time and come before any custom role: the list's oldest end.
 */
function newestFirst<Role extends { id: string; default: boolean }>(roles: Role[]): Role[] {
  const custom = roles.filter((role) => !role.default).sort((a, b) => (a.id < b.id ? 1 : -1));
  return [...custom, ...roles.filter((role) => role.default)];
}
