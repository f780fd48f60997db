/*
 * The page's safety net while its modules load (a classic script, run after
 * the <script type="module"> for js/main.js is parsed). A module graph fails
 * as a whole if any one of its files does not arrive, and a browser keeps
 * that failure for the life of the page; so when that happens the page
 * reloads, up to three times in a row, and then says it could not load.
 */
(function () {
  "use strict";
  var KEY = "chat.loadRetries";
  var MAX_RETRIES = 3;
  var main = document.getElementById("main-module");
  var retries = Number(sessionStorage.getItem(KEY)) || 0;

  main.addEventListener("load", function () { sessionStorage.removeItem(KEY); });
  main.addEventListener("error", function () {
    if (retries < MAX_RETRIES) {
      sessionStorage.setItem(KEY, String(retries + 1));
      setTimeout(function () { location.reload(); }, 500 * (retries + 1));
      return;
    }
    sessionStorage.removeItem(KEY);
    document.getElementById("load-failed").hidden = false;
  });
})();
