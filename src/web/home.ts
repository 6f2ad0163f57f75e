import type { FastifyInstance } from "fastify";
import { LOCALES } from "./i18n.ts";

const LANGUAGE_NAMES: Record<(typeof LOCALES)[number], string> = {
  en: "English",
  fr: "Français",
  ro: "Română",
  es: "Español",
  pt: "Português",
  ar: "العربية",
};

/** `/`: what a newcomer sees after `npm start`, with the ways in. */
export async function homePage(pages: FastifyInstance): Promise<void> {
  pages.get("/", { schema: { hide: true } }, async (_request, reply) =>
    reply.page(
      "web/templates/home",
      {
        exampleAmount: 199n,
        exampleCurrency: "EUR",
        languages: LOCALES.map((code) => ({ code, name: LANGUAGE_NAMES[code] })),
      },
      { title: "Centime" },
    ),
  );
}
