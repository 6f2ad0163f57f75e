/*! Centime embedded checkout. Usage:
 *   <script src="https://pay.example.com/js/centime.js"></script>
 *   Centime("pk_test_…").mount("#pay", { clientSecret: "cs_…_secret_…", onComplete(event) {} });
 * The form runs in an iframe on Centime's origin; card numbers and PINs never reach your page.
 */
(() => {
  const script = document.currentScript;
  const base = new URL(script ? script.src : "/", window.location.href).origin;
  function Centime(publishableKey) {
    if (typeof publishableKey !== "string" || !/^pk_(test|live)_/.test(publishableKey))
      throw new Error("Centime: pass your publishable key (pk_test_… or pk_live_…)");
    return {
      mount(target, options) {
        const host = typeof target === "string" ? document.querySelector(target) : target;
        if (!host) throw new Error("Centime: nothing matches " + target);
        if (!options || typeof options.clientSecret !== "string")
          throw new Error("Centime: pass { clientSecret }");
        const iframe = document.createElement("iframe");
        iframe.src = `${base}/embed/${encodeURIComponent(options.clientSecret)}?pk=${encodeURIComponent(publishableKey)}`;
        iframe.title = options.title || "Payment";
        iframe.style.width = "100%";
        iframe.style.border = "0";
        iframe.style.minHeight = "480px";
        host.appendChild(iframe);
        const onMessage = (event) => {
          // Only the iframe we made, from Centime's origin, is listened to.
          if (event.origin !== base || event.source !== iframe.contentWindow) return;
          const data = event.data || {};
          if (data.type === "centime.checkout.resize" && data.height > 0)
            iframe.style.height = `${Math.ceil(data.height)}px`;
          if (data.type === "centime.checkout.completed" && typeof options.onComplete === "function")
            options.onComplete({ session: data.session });
        };
        window.addEventListener("message", onMessage);
        return {
          iframe,
          unmount() {
            window.removeEventListener("message", onMessage);
            iframe.remove();
          },
        };
      },
    };
  }
  window.Centime = Centime;
})();
