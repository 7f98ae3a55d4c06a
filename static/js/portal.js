// The portal's only script: live progress regions and copy buttons.
// Pages work without it; the progress then updates on reload.
(function () {
  "use strict";

  var POLL_INTERVAL_MS = 2000;
  // After a failed fetch the next try waits longer, up to this limit.
  var MAX_RETRY_INTERVAL_MS = 30000;

  // Flash messages describe the state the page was loaded in ("Your request
  // has been sent"); once a polled region shows a newer state they are stale.
  function removeFlashMessages() {
    var lists = document.querySelectorAll(".messages");
    for (var i = 0; i < lists.length; i++) {
      lists[i].parentNode.removeChild(lists[i]);
    }
  }

  // A region with data-poll-url is replaced by the fragment at that URL every
  // two seconds, until the fragment contains an element with data-poll-done.
  function startPolling(region) {
    var url = region.getAttribute("data-poll-url");
    var lastHtml = region.innerHTML.trim();
    var delay = POLL_INTERVAL_MS;

    function schedule() {
      window.setTimeout(poll, delay);
    }

    function poll() {
      if (document.hidden) {
        schedule();
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          delay = POLL_INTERVAL_MS;
          // Replacing identical content would make screen readers repeat it.
          if (html.trim() !== lastHtml) {
            region.innerHTML = html;
            lastHtml = html.trim();
            removeFlashMessages();
          }
          if (!region.querySelector("[data-poll-done]")) {
            schedule();
          }
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_RETRY_INTERVAL_MS);
          schedule();
        });
    }

    if (!region.querySelector("[data-poll-done]")) {
      schedule();
    }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a lab network has no Clipboard API; fall back to a hidden textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var copied = document.execCommand("copy");
      document.body.removeChild(area);
      if (copied) {
        resolve();
      } else {
        reject(new Error("copy failed"));
      }
    });
  }

  // A button with data-copy-target="ID" copies that element's text; the
  // button's data-copied-label and data-copy-failed-label come from the
  // template, already translated.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) {
      return;
    }
    var label = button.textContent;
    copyText(target.textContent.trim()).then(
      function () {
        button.textContent = button.getAttribute("data-copied-label") || label;
      },
      function () {
        button.textContent = button.getAttribute("data-copy-failed-label") || label;
      }
    ).then(function () {
      window.setTimeout(function () {
        button.textContent = label;
      }, 2000);
    });
  });

  document.querySelectorAll("[data-poll-url]").forEach(startPolling);
})();
