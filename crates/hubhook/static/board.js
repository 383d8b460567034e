// hubhook's only script: live board updates (EventSource) and one-tap status buttons (fetch).
// Without it every page still works: forms post and the server redirects back.
(function () {
  "use strict";
  var cards = document.getElementById("cards");
  var status = document.getElementById("live-status");

  function say(text) {
    if (status) { status.textContent = text; }
  }

  // One refresh at a time; a change arriving meanwhile asks for one more afterwards.
  var busy = false, again = false;
  function refresh() {
    if (!cards) { return; }
    if (busy) { again = true; return; }
    busy = true;
    fetch("/board/cards" + window.location.search, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) {
        if (r.redirected || r.status === 401) { window.location.href = "/login"; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { cards.innerHTML = html; } })
      .catch(function () { say("Offline: retrying…"); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-task-form")) { return; }
    e.preventDefault();
    // A card has one form: the button pressed says what it changes (its name) and to what (its
    // value), as the browser itself would send it.
    var button = e.submitter;
    if (button && button.name === "status" && button.value === "cancelled") {
      var note = form.querySelector("[name=note]");
      if (note && !note.value.trim()) { say("Say why the task is cancelled."); note.focus(); return; }
    }
    var body = new URLSearchParams(new FormData(form));
    if (button && button.name) { body.append(button.name, button.value); }
    var action = form.action;
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (r) {
      if (r.status === 409) { say("That task changed meanwhile; the board is up to date again."); }
      else if (r.status === 403) { say("Only a manager can do that."); }
      else if (!r.ok) { say("Could not change the task (" + r.status + ")."); }
    }).catch(function () {
      say("Offline: the change was not sent.");
    }).then(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      refresh();
    });
  });

  // Without a live feed (refused: too many boards open, 429; or no EventSource at all) the board
  // polls its cards, and asks for the feed again later.
  var POLL_MS = 30000, RETRY_MS = 60000;
  var poller = null;
  function poll(on) {
    if (on && !poller) { poller = setInterval(refresh, POLL_MS); }
    if (!on && poller) { clearInterval(poller); poller = null; }
  }

  function connect() {
    var source = new EventSource("/board/events");
    source.addEventListener("ready", function () { poll(false); say("Live"); refresh(); });
    source.addEventListener("task", refresh);
    source.addEventListener("resync", refresh);
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) { say("Reconnecting…"); return; }
      // The browser gives up on an answer that is not a stream (a 429, a redirect to sign in).
      source.close();
      say("Live updates paused: the board refreshes every 30 s.");
      poll(true);
      refresh();
      setTimeout(connect, RETRY_MS + Math.floor(Math.random() * RETRY_MS / 2));
    };
  }

  if (cards && window.EventSource) { connect(); }
  else if (cards) { poll(true); }

  // Copy buttons (the setup page's Duve header values): the clipboard API where the page is a
  // secure context (https, localhost), else the selected text and execCommand.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (b) {
    b.addEventListener("click", function () {
      var field = document.getElementById(b.getAttribute("data-copy"));
      if (!field) { return; }
      function done() { b.textContent = "Copied"; }
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          if (document.execCommand("copy")) { done(); }
        });
      } else if (document.execCommand("copy")) { done(); }
    });
  });
})();
