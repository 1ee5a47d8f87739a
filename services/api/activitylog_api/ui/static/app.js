// Lead activity log — admin UI behaviour. Plain JavaScript, no build step; every page works
// without it (forms and links), this only makes it quicker: live filtering, auto-refresh,
// copy buttons, "load older", lead suggestions and context, keyboard shortcuts.
(function () {
  "use strict";

  var AUTO_REFRESH_KEY = "activitylog.autoRefresh";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a LAN has no clipboard API: fall back to a hidden textarea.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy, button.copy-json");
    if (!button) return;
    // Inside a row's <summary>: copying must not also open or close the row.
    event.preventDefault();
    event.stopPropagation();
    copyText(button.getAttribute("data-copy") || "").then(function () {
      button.classList.add("copied");
      button.querySelector("use").setAttribute("href", "#i-check");
      setTimeout(function () {
        button.classList.remove("copied");
        button.querySelector("use").setAttribute("href", "#i-copy");
      }, 1200);
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.method.toLowerCase() === "post") {
      var button = form.querySelector("button[type=submit]");
      if (button) setTimeout(function () { button.disabled = true; }, 0);
    }
  });

  function fetchPartial(url) {
    return fetch(url, { headers: { "X-Partial": "1" }, credentials: "same-origin" }).then(function (response) {
      if (response.redirected && /\/admin\/login/.test(response.url)) {
        window.location.href = response.url; // the session ended: sign in again
        throw new Error("signed out");
      }
      if (!response.ok && response.status !== 503 && response.status !== 400) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    });
  }

  function parseFragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  // ---- the activity browser -------------------------------------------------------------
  function setupBrowser(form) {
    var slot = document.getElementById("results-slot");
    var toggle = document.getElementById("auto-refresh");
    var note = document.getElementById("refresh-note");
    var exportLink = document.getElementById("export-csv");
    var rangeSelect = document.getElementById("range");
    var sequence = 0;
    var debounceTimer = null;

    function queryFromForm() {
      var params = new URLSearchParams();
      var data = new FormData(form);
      var custom = data.get("range") === "custom";
      data.forEach(function (value, key) {
        if (typeof value !== "string") return;
        value = value.trim();
        if (!value) return;
        if ((key === "dateFrom" || key === "dateTo") && !custom) return;
        params.append(key, value);
      });
      var query = params.toString();
      return form.getAttribute("action") + (query ? "?" + query : "");
    }

    function showCustomRange() {
      var custom = rangeSelect.value === "custom";
      form.querySelectorAll(".custom-range").forEach(function (el) { el.hidden = !custom; });
    }

    function load(url, options) {
      options = options || {};
      var mine = ++sequence;
      var current = document.getElementById("results");
      var before = {};
      var open = {};
      if (current) {
        current.querySelectorAll("details.event").forEach(function (row) {
          before[row.id] = true;
          if (row.open) open[row.id] = true;
        });
      }
      if (!options.quiet) document.body.classList.add("loading");
      return fetchPartial(url).then(function (html) {
        if (mine !== sequence) return; // a newer request has been made since
        var fragment = parseFragment(html);
        var fresh = fragment.getElementById("results");
        if (!fresh) throw new Error("the server could not answer; is the database up?");
        fresh.querySelectorAll("details.event").forEach(function (row) {
          if (open[row.id]) row.open = true;
          if (options.markNew && !before[row.id]) row.classList.add("fresh");
        });
        slot.replaceChildren(fragment);
        if (exportLink && fresh.getAttribute("data-export")) {
          exportLink.href = fresh.getAttribute("data-export");
        }
        if (note) {
          note.textContent = "updated " + new Date().toLocaleTimeString();
        }
      }).catch(function (error) {
        if (note) note.textContent = "refresh failed (" + error.message + ")";
      }).finally(function () {
        if (mine === sequence) document.body.classList.remove("loading");
      });
    }

    function applyFilters(push) {
      var url = queryFromForm();
      if (push) {
        history.pushState(null, "", url);
      } else {
        history.replaceState(null, "", url);
      }
      return load(url);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(debounceTimer);
      applyFilters(true);
    });
    form.addEventListener("input", function (event) {
      // A name typed in the lead box only asks for suggestions; a chosen lead (its id) filters.
      if (event.target.id === "lead-input" && !isLeadReference(event.target.value)) return;
      if (event.target.matches("input[type=search], input[type=text]")) {
        clearTimeout(debounceTimer);
        debounceTimer = setTimeout(function () { applyFilters(false); }, 350);
      }
    });
    form.addEventListener("change", function (event) {
      if (event.target === rangeSelect) showCustomRange();
      if (event.target.matches("select, input[type=datetime-local], input[type=checkbox]")) {
        if (event.target === rangeSelect && rangeSelect.value === "custom") return;
        clearTimeout(debounceTimer);
        applyFilters(true);
      }
    });
    window.addEventListener("popstate", function () {
      window.location.reload();
    });

    // Auto-refresh: on by default, the choice remembered in this browser.
    if (toggle) {
      autoRefresh(toggle, note, function () {
        var results = document.getElementById("results");
        // Only the newest page is live; an older page stays where the reader put it.
        if (!results || results.getAttribute("data-live") !== "1") return;
        load(window.location.pathname + window.location.search, { quiet: true, markNew: true });
      });
    }
  }

  function isLeadReference(value) {
    value = value.trim();
    return !value || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value) || /^rec[A-Za-z0-9]+$/.test(value);
  }

  // ---- lead suggestions: name, email, phone or id → the lead's id --------------------------
  function setupLeadSuggestions(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var asked = "";
    input.addEventListener("input", function () {
      var text = input.value.trim();
      clearTimeout(timer);
      if (text.length < 2 || isLeadReference(text) || text === asked) return;
      timer = setTimeout(function () {
        asked = text;
        fetch("/admin/lead-suggestions?q=" + encodeURIComponent(text), { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (leads) {
            list.replaceChildren.apply(list, leads.map(function (lead) {
              var option = document.createElement("option");
              option.value = lead.id;
              option.label = lead.label;
              option.textContent = lead.label;
              return option;
            }));
            document.body.setAttribute("data-suggested", String(leads.length));
          });
      }, 200);
    });
  }

  // ---- a browser row's lead context, read when the row is first opened ---------------------
  document.addEventListener("toggle", function (event) {
    var row = event.target;
    if (!row.matches || !row.matches("details.event") || !row.open) return;
    var holder = row.querySelector(".lead-context[data-src]");
    if (!holder || holder.getAttribute("data-loaded")) return;
    holder.setAttribute("data-loaded", "1");
    fetchPartial(holder.getAttribute("data-src")).then(function (html) {
      holder.replaceChildren(parseFragment(html));
    }).catch(function () {
      holder.removeAttribute("data-loaded");
      holder.textContent = "The lead's context could not be read.";
    });
  }, true);

  // ---- keyboard: / search, j/k rows, Enter opens, e export, ? help --------------------------
  var currentRow = null;

  function moveRow(step) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("details.event"));
    if (!rows.length) return;
    var index = rows.indexOf(currentRow);
    index = index < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(Math.max(index + step, 0), rows.length - 1);
    if (currentRow) currentRow.classList.remove("current");
    currentRow = rows[index];
    currentRow.classList.add("current");
    var summary = currentRow.querySelector("summary");
    summary.focus();
    summary.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable=true]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) return;
    if (event.key === "/") {
      var search = document.querySelector("input[name=search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      moveRow(event.key === "j" ? 1 : -1);
    } else if (event.key === "Enter" && currentRow && !target.closest("summary, a, button")) {
      event.preventDefault();
      currentRow.open = !currentRow.open;
    } else if (event.key === "e") {
      var exportLink = document.getElementById("export-csv");
      if (exportLink) { event.preventDefault(); exportLink.click(); }
    } else if (event.key === "?") {
      if (dialog) { event.preventDefault(); dialog.showModal(); }
    }
  });

  // ---- auto-refresh: on by default, the choice remembered in this browser -----------------
  // `tick` runs every data-interval seconds while the toggle is on and the tab is visible.
  function autoRefresh(toggle, note, tick) {
    var stored = null;
    try { stored = window.localStorage.getItem(AUTO_REFRESH_KEY); } catch (e) { /* private mode */ }
    toggle.checked = stored !== "off";
    toggle.addEventListener("change", function () {
      try { window.localStorage.setItem(AUTO_REFRESH_KEY, toggle.checked ? "on" : "off"); } catch (e) { /* ignore */ }
      if (note) note.textContent = toggle.checked ? "" : "paused";
    });
    if (!toggle.checked && note) note.textContent = "paused";
    var seconds = parseFloat(toggle.getAttribute("data-interval")) || 30;
    setInterval(function () {
      if (toggle.checked && !document.hidden) tick();
    }, seconds * 1000);
  }

  // ---- the lead timeline refreshes its newest page ------------------------------------------
  function setupTimelineRefresh(toggle) {
    var timeline = document.getElementById("timeline");
    var note = document.getElementById("refresh-note");
    autoRefresh(toggle, note, function () {
      // Once older pages are loaded the reader is looking back: leave the list as it is.
      if (timeline.getAttribute("data-appended")) return;
      var before = {};
      timeline.querySelectorAll("details.event").forEach(function (row) { before[row.id] = row.open ? "open" : "shut"; });
      fetchPartial(toggle.getAttribute("data-live-url")).then(function (html) {
        if (timeline.getAttribute("data-appended")) return;
        var fragment = parseFragment(html);
        fragment.querySelectorAll("details.event").forEach(function (row) {
          if (!before[row.id]) row.classList.add("fresh");
          if (before[row.id] === "open") row.open = true;
        });
        timeline.replaceChildren(fragment);
        if (note) note.textContent = "updated " + new Date().toLocaleTimeString();
      }).catch(function (error) {
        if (note) note.textContent = "refresh failed (" + error.message + ")";
      });
    });
  }

  // ---- "load older" on the lead timeline ---------------------------------------------------
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-append]");
    if (!link) return;
    event.preventDefault();
    var target = document.querySelector(link.getAttribute("data-append"));
    var holder = link.parentElement;
    target.setAttribute("data-appended", "1");
    link.textContent = "Loading…";
    fetchPartial(link.href).then(function (html) {
      var fragment = parseFragment(html);
      fragment.querySelectorAll("section.day").forEach(function (day) {
        var sections = target.querySelectorAll("section.day");
        var last = sections[sections.length - 1];
        if (last && last.getAttribute("data-day") === day.getAttribute("data-day")) {
          // The page boundary fell inside a day: continue that day instead of repeating it.
          var list = last.querySelector(".event-list");
          day.querySelectorAll("details.event").forEach(function (row) { list.appendChild(row); });
        } else {
          holder.parentElement.insertBefore(day, holder);
        }
      });
      var more = fragment.querySelector(".load-older");
      if (more) {
        holder.replaceWith(more);
      } else {
        holder.remove();
      }
    }).catch(function () {
      link.textContent = "Load older (failed — try again)";
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("filters");
    if (form) setupBrowser(form);
    var leadInput = document.getElementById("lead-input");
    if (leadInput) setupLeadSuggestions(leadInput);
    var liveToggle = document.querySelector("#auto-refresh[data-live-url]");
    if (liveToggle && document.getElementById("timeline")) setupTimelineRefresh(liveToggle);
    var shortcuts = document.getElementById("shortcuts-button");
    if (shortcuts) shortcuts.addEventListener("click", function () { document.getElementById("shortcuts").showModal(); });
    var zoneButton = document.getElementById("use-browser-zone");
    if (zoneButton) zoneButton.addEventListener("click", function () {
      document.getElementById("time-zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    });
  });
})();
