// The hosted checkout's enhancements. Every page works without this script: waiting pages reload
// themselves (meta refresh); this only makes them quicker and tells an embedding page the outcome.
(() => {
  const main = document.querySelector("main.checkout");
  if (!main) return;
  const origins = (main.dataset.origins || "").split(" ").filter(Boolean);
  // Messages go to the parent only if it is one of the app's allowed origins: postMessage delivers
  // to the one that matches the parent's actual origin and to nobody else.
  const tell = (message) => {
    if (window.parent === window) return;
    for (const origin of origins) window.parent.postMessage(message, origin);
  };
  const resize = () =>
    tell({ type: "centime.checkout.resize", height: document.documentElement.scrollHeight });
  resize();
  window.addEventListener("resize", resize);
  if (main.dataset.outcome === "complete")
    tell({ type: "centime.checkout.completed", session: main.dataset.session });
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  const poll = main.dataset.poll;
  if (poll) {
    const check = async () => {
      try {
        const response = await fetch(poll, {
          headers: { accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.ok) {
          const state = await response.json();
          if (state.next && state.next !== window.location.pathname) {
            window.location.assign(state.next);
            return;
          }
        }
      } catch {
        // Offline for a moment: the meta refresh still reloads the page.
      }
      setTimeout(check, 2000);
    };
    setTimeout(check, 2000);
  }
})();
