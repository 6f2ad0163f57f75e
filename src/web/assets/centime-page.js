// Progressive enhancement shared by every page. Pages work without it.
(() => {
  const token = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content");
  // htmx requests carry the CSRF token the server put in the page.
  document.addEventListener("htmx:configRequest", (event) => {
    if (token) event.detail.headers["csrf-token"] = token;
  });
  // Buttons that would move money or change state are disabled once pressed: no double submit.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.submitted === "true") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "true";
    for (const button of form.querySelectorAll("button[type=submit]"))
      button.setAttribute("aria-disabled", "true");
  });
})();
