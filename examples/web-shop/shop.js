// The shop page's script: mounts Centime's form and unlocks the crystals when it reports success
// (the game server still waits for Centime's signed delivery order before granting anything).
(() => {
  const target = document.getElementById("pay");
  const centime = window.Centime(target.dataset.publishableKey);
  centime.mount(target, {
    clientSecret: target.dataset.clientSecret,
    title: "Pay for 500 crystals",
    onComplete(event) {
      document.getElementById("result").textContent = `Paid: ${event.session}`;
    },
  });
})();
