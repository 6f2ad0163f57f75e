/** 50 rules of the shapes merchants write; with `payer`, none blocks a normal payment. */
export function fiftyRules(): { name: string; rule: string; mode: "shadow" | "enforce" }[] {
  const rules: { name: string; rule: string; mode: "shadow" | "enforce" }[] = [
    { name: "shadow all amounts", rule: "block if amount > 0", mode: "shadow" },
    { name: "shadow euros", rule: 'review if currency = "EUR" and method = "sandbox"', mode: "shadow" },
    { name: "blocked addresses", rule: 'block if ip in blocklist("ips")', mode: "enforce" },
    { name: "blocked countries", rule: 'block if ip_country in blocklist("countries")', mode: "enforce" },
    { name: "country mismatch", rule: "require_pin if ip_country != country", mode: "enforce" },
  ];
  const shapes = [
    (i: number) => `block if amount > ${1_000_000 + i}`,
    (i: number) => `review if payments_per_ip_1h > ${500 + i} and amount > ${i}`,
    (i: number) => `block if method = "card" and cards_per_ip_24h > ${20 + i}`,
    (i: number) => `block if currency in ["XAF", "XOF", "KMF"] and amount > ${5000 + i}`,
    (i: number) => `review if declines_per_ip_1h >= ${50 + i} or pin_failures_per_ip_1h >= ${80 + i}`,
    (i: number) => `block if not (amount < ${9_000_000 + i}) and flow = "payment"`,
    (i: number) => `require_pin if page_open_ms < ${i} and framed`,
    (i: number) => `block if customer = "cus_blocked_${i}"`,
    (i: number) => `review if operator in ["20801", "20810"] and amount >= ${100_000 + i}`,
  ];
  for (let i = 0; rules.length < 50; i++)
    rules.push({
      name: `rule ${i}`,
      rule: shapes[i % shapes.length]!(i),
      mode: i % 3 === 0 ? "shadow" : "enforce",
    });
  return rules;
}
