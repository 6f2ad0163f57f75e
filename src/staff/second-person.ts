import type { Actor } from "../audit/index.ts";
import type { Queryable } from "../db/db.ts";

/** Why an approver is not a second person for a maker's request, or null when they are. */
export type NotASecondPerson = "not_a_person" | "created_by_maker";

/** How far up the chain of creators a check looks; staff made by staff made by… rarely go past 3. */
const CREATOR_CHAIN_MAX = 20;

/**
 * Four eyes means two people. An API key is not a person (whoever holds a merchant's key can mint
 * another), so it never decides. Nor does a person the maker controls: whoever creates a staff
 * member is handed that person's key, so someone the maker created (directly or through people
 * they created) is the maker again; and when the maker is a merchant's API key, so is anyone
 * created by one of that merchant's keys, since any of its keys can mint the others. The platform
 * owner is exempt from that lineage: every platform staff member descends from the owner, who is
 * the root of the platform's trust.
 */
export async function notASecondPerson(
  q: Queryable,
  approver: Actor,
  maker: string,
): Promise<NotASecondPerson | null> {
  if (approver.kind === "api_key") return "not_a_person";
  if (approver.kind !== "staff" || maker === "owner") return null;
  const creators = await creatorsOf(q, approver.id);
  const makerIsKey = maker.startsWith("key_");
  if (creators.some((creator) => creator === maker || (makerIsKey && creator.startsWith("key_"))))
    return "created_by_maker";
  return null;
}

/** The staff member's creator, that creator's creator, and so on (staff ids, key ids, `owner`). */
async function creatorsOf(q: Queryable, staffId: string): Promise<string[]> {
  const { rows } = await q.query<{ created_by: string }>(
    `with recursive chain (created_by, depth) as (
       select created_by, 1 from staff where id = $1
       union all
       select s.created_by, c.depth + 1 from chain c join staff s on s.id = c.created_by
        where c.depth < $2)
     select created_by from chain where created_by is not null`,
    [staffId, CREATOR_CHAIN_MAX],
  );
  return rows.map((r) => r.created_by);
}
