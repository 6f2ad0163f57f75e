import { type TSchema, Type } from "@sinclair/typebox";
import { ApiError, assert } from "../platform/errors.ts";
import { assertLiveProvider, type LiveProviders } from "./live-mode.ts";
import type { PaymentMethodInput, PaymentProvider, ResolveContext, ResolvedMethod } from "./provider.ts";

/**
 * The one registry of payment providers, keyed by payment-method type. API payments, renewals
 * and every later flow find their provider here; the API's `payment_method` schemas are built
 * from what is registered, so adding a method type is registering one provider (docs/payments.md).
 */
export class ProviderRegistry {
  private readonly byType = new Map<string, PaymentProvider>();
  /** Which providers may take live money (src/payments/live-mode.ts); unset, none. */
  private live: LiveProviders | undefined;

  constructor(providers: Iterable<PaymentProvider> = []) {
    for (const provider of providers) this.register(provider);
  }

  /** Adds a provider for its method type; a type is served by one provider only. */
  register(provider: PaymentProvider): this {
    assert(!this.byType.has(provider.name), `no provider is registered twice for ${provider.name}`);
    this.byType.set(provider.name, provider);
    return this;
  }

  /** Live payments reach only the providers `live` says are ready; the others answer a 403. */
  allowLive(live: LiveProviders): this {
    this.live = live;
    return this;
  }

  /** A copy with some types served by other providers (simulations, benchmarks). */
  with(...providers: PaymentProvider[]): ProviderRegistry {
    const copy = new ProviderRegistry();
    copy.live = this.live;
    for (const [type, provider] of this.byType) copy.byType.set(type, provider);
    for (const provider of providers) copy.byType.set(provider.name, provider);
    return copy;
  }

  get(type: string): PaymentProvider | undefined {
    return this.byType.get(type);
  }

  /** The provider of a stored payment: it was registered when the payment was made. */
  require(type: string): PaymentProvider {
    const provider = this.byType.get(type);
    assert(provider, `provider ${type} is registered`);
    return provider;
  }

  /** Method types accepted for a use, in registration order. */
  types(usage: ResolveContext["usage"]): string[] {
    return [...this.byType.values()].filter((p) => schemaOf(p, usage) !== undefined).map((p) => p.name);
  }

  /** The API schema of `payment_method` for a use: one tagged object per registered type. */
  methodSchema(usage: ResolveContext["usage"]): TSchema {
    const types = this.types(usage);
    const variants = [...this.byType.values()].flatMap((p) => schemaOf(p, usage) ?? []);
    // The type is checked first on its own, so a type that cannot be used here is answered with
    // the list of those that can (a card subscription: "must be one of sandbox, carrier").
    return Type.Unsafe<PaymentMethodInput>({
      description: `A tagged object: \`type\` is one of ${types.join(", ")}.`,
      allOf: [
        { type: "object", required: ["type"], properties: { type: { type: "string", enum: types } } },
        { type: "object", discriminator: { propertyName: "type" }, required: ["type"], oneOf: variants },
      ],
    });
  }

  /**
   * Checks a payment method that entered through the API with its provider. An unknown type (or
   * one that cannot be used this way) is a 400 naming the types that can.
   */
  async resolve(input: PaymentMethodInput, context: ResolveContext): Promise<ResolvedMethod> {
    const provider = this.byType.get(input.type);
    if (!provider || schemaOf(provider, context.usage) === undefined) {
      const allowed = this.types(context.usage).join(", ");
      throw new ApiError(
        "payment_method_invalid",
        "payment_method.type",
        context.usage === "subscription"
          ? `A subscription cannot renew with payment_method.type '${input.type}'; allowed: ${allowed}.`
          : `Unknown payment_method.type '${input.type}'; allowed: ${allowed}.`,
      );
    }
    const resolved = await provider.resolve(input, context);
    // Live money never reaches the simulator or the sandbox: only a provider configured for real.
    if (context.mode === "live") assertLiveProvider(this.live, provider.name);
    return resolved;
  }
}

function schemaOf(provider: PaymentProvider, usage: ResolveContext["usage"]): TSchema | undefined {
  return usage === "payment" ? provider.paymentSchema : provider.subscriptionSchema;
}
