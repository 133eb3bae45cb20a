// herd serve: live refresh. Every few seconds, fetch this page again and
// swap in its <main>; without JavaScript the page is whole, reload it.
(function () {
  var main = document.querySelector("main[data-live]");
  if (!main || !window.fetch || !window.DOMParser) return;
  var every = Math.max(1, parseInt(main.getAttribute("data-live"), 10) || 5) * 1000;
  var count = 0;
  function refresh() {
    fetch(location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) { setTimeout(refresh, every); return; }
        var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main");
        if (!fresh) return;
        main.innerHTML = fresh.innerHTML;
        count += 1;
        main.setAttribute("data-refreshed", String(count));
        // A finished run stops refreshing.
        if (!fresh.hasAttribute("data-live")) return;
        setTimeout(refresh, every);
      })
      .catch(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
