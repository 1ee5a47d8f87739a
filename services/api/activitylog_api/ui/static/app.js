// Lead activity log — admin UI behaviour. Plain JavaScript, no build step; every page works
// without it (forms and links), this only makes it quicker: live filtering, live updates
// (server-sent events: only what is new is sent, shown where it belongs, the reader's place
// kept), copy buttons, "load older", lead suggestions and context, the quick filter menu
// and keyboard shortcuts.
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
    var button = event.target.closest("button.copy, button.copy-json, button.copy-text");
    if (!button) return;
    // Inside a row's <summary>: copying must not also open or close the row.
    event.preventDefault();
    event.stopPropagation();
    var icon = button.querySelector("use");
    var shown = icon ? icon.getAttribute("href") : null;
    copyText(button.getAttribute("data-copy") || "").then(function () {
      button.classList.add("copied");
      if (icon) icon.setAttribute("href", "#i-check");
      setTimeout(function () {
        button.classList.remove("copied");
        if (icon && shown) icon.setAttribute("href", shown);
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

  function time(value) {
    var parsed = Date.parse(value || "");
    return isNaN(parsed) ? 0 : parsed;
  }

  // ---- skeletons: grey rows where a list is loading ------------------------------------------
  function skeleton(rows) {
    var box = document.createElement("div");
    box.className = "skeleton";
    box.setAttribute("aria-hidden", "true");
    for (var i = 0; i < rows; i++) {
      var row = document.createElement("div");
      row.className = "skeleton-row";
      row.innerHTML = '<span class="sk-icon"></span><span class="sk-lines"><span class="sk-line"></span><span class="sk-line short"></span></span><span class="sk-time"></span>';
      box.appendChild(row);
    }
    return box;
  }

  // ---- the toast of new events, and keeping the reader's place -------------------------------
  var toast = {
    count: 0,
    show: function (added) {
      var box = document.getElementById("live-toast");
      if (!box) return;
      this.count += added;
      document.getElementById("live-toast-text").textContent =
        this.count + " new event" + (this.count === 1 ? "" : "s") + " • scroll to top";
      box.style.top = (coveredTop() + 10) + "px"; // just below the bars that stay in view
      box.hidden = false;
    },
    hide: function () {
      var box = document.getElementById("live-toast");
      if (box) box.hidden = true;
      this.count = 0;
    }
  };

  document.addEventListener("click", function (event) {
    if (!event.target.closest("#live-toast-button")) return;
    var list = document.querySelector("#event-list, #timeline");
    toast.hide();
    window.scrollTo({ top: 0 });
    if (list) {
      var first = list.querySelector("details.event.fresh, details.event");
      if (first) first.querySelector("summary").focus({ preventScroll: true });
    }
  });

  window.addEventListener("scroll", function () {
    if (window.scrollY < 40) toast.hide();
  }, { passive: true });

  // The top of the area rows scroll under: below the top bar and any sticky filter bar.
  function coveredTop() {
    var bottom = 0;
    document.querySelectorAll(".topbar, .sticky-bar").forEach(function (bar) {
      if (getComputedStyle(bar).position !== "sticky") return;
      var box = bar.getBoundingClientRect();
      if (box.top <= bottom + 1) bottom = Math.max(bottom, box.bottom);
    });
    return bottom;
  }

  // Insert rows with `place(row)` while the rows the reader is looking at stay where they are
  // on the screen; returns the rows placed above the reader's view (the toast counts them).
  function keepingPlace(container, rows, place) {
    var top = coveredTop();
    var anchor = null;
    var anchorTop = 0;
    container.querySelectorAll("details.event").forEach(function (row) {
      if (anchor) return;
      var box = row.getBoundingClientRect();
      if (box.bottom > top) { anchor = row; anchorTop = box.top; }
    });
    var placed = [];
    rows.forEach(function (row) { if (place(row)) placed.push(row); });
    if (anchor && window.scrollY > 0) {
      var moved = anchor.getBoundingClientRect().top - anchorTop;
      if (moved) window.scrollBy(0, moved);
    }
    var above = placed.filter(function (row) { return row.getBoundingClientRect().bottom <= top + 1; });
    return { placed: placed, above: above };
  }

  // ---- live updates: server-sent events of what is new ----------------------------------------
  // `url` streams the page's rows; `onRows(rows)` places them. Reconnects by itself (the browser
  // sends the last event id: nothing stored meanwhile is missed).
  function LiveStream(url, since, onRows, note) {
    this.url = url;
    this.since = since;
    this.onRows = onRows;
    this.note = note;
    this.source = null;
    this.connected = false;
  }
  LiveStream.prototype.start = function () {
    var self = this;
    if (this.source || !window.EventSource) return;
    var url = this.url;
    if (this.since) url += (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(this.since);
    var source = new EventSource(url);
    this.source = source;
    source.addEventListener("ready", function () {
      self.connected = true;
      document.body.setAttribute("data-live", "connected");
      if (self.note) self.note.textContent = "live";
    });
    source.addEventListener("rows", function (event) {
      var data = JSON.parse(event.data);
      self.onRows(data.rows || []);
      if (self.note) self.note.textContent = "live · updated " + new Date().toLocaleTimeString();
    });
    source.addEventListener("bye", function () {
      self.connected = false;
      document.body.setAttribute("data-live", "reconnecting");
    });
    source.onerror = function () {
      self.connected = false;
      document.body.setAttribute("data-live", "reconnecting");
      if (self.note) self.note.textContent = "reconnecting…";
    };
  };
  LiveStream.prototype.stop = function () {
    if (this.source) this.source.close();
    this.source = null;
    this.connected = false;
    document.body.setAttribute("data-live", "off");
  };

  // The live toggle: on by default, the choice remembered in this browser. While it is on and
  // the stream is down, `tick` runs every data-interval seconds instead (the old refresh).
  function liveToggle(toggle, note, stream, tick) {
    var stored = null;
    try { stored = window.localStorage.getItem(AUTO_REFRESH_KEY); } catch (e) { /* private mode */ }
    toggle.checked = stored !== "off";
    function apply() {
      if (toggle.checked) {
        if (stream()) stream().start();
        if (note && !(stream() && stream().connected)) note.textContent = "";
      } else {
        if (stream()) stream().stop();
        if (note) note.textContent = "paused";
      }
    }
    toggle.addEventListener("change", function () {
      try { window.localStorage.setItem(AUTO_REFRESH_KEY, toggle.checked ? "on" : "off"); } catch (e) { /* ignore */ }
      apply();
    });
    apply();
    var seconds = parseFloat(toggle.getAttribute("data-interval")) || 30;
    setInterval(function () {
      var live = stream();
      if (toggle.checked && !document.hidden && !(live && live.connected)) tick();
    }, seconds * 1000);
    return { on: function () { return toggle.checked; }, apply: apply };
  }

  // ---- the activity browser -------------------------------------------------------------
  var browser = null;

  function setupBrowser(form) {
    var slot = document.getElementById("results-slot");
    var toggle = document.getElementById("auto-refresh");
    var note = document.getElementById("refresh-note");
    var exportLink = document.getElementById("export-csv");
    var rangeSelect = document.getElementById("range");
    var sequence = 0;
    var debounceTimer = null;
    var stream = null;
    var live = null;

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

    function loadPresets() {
      var nav = document.getElementById("time-presets");
      if (!nav) return;
      var url = "/admin/live/presets" + window.location.search;
      fetch(url, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.json() : [];
      }).then(function (presets) {
        nav.replaceChildren.apply(nav, presets.map(function (preset) {
          var link = document.createElement("a");
          link.className = "preset" + (preset.active ? " active" : "");
          link.href = preset.href;
          link.setAttribute("data-preset", preset.key);
          if (preset.active) link.setAttribute("aria-current", "true");
          link.append(preset.label + " ");
          var count = document.createElement("b");
          count.textContent = preset.count;
          link.appendChild(count);
          return link;
        }));
        nav.setAttribute("data-loaded", "1");
      }).catch(function () { /* the select still offers the presets */ });
    }

    // Live updates for the newest page in time order (an older page stays as the reader put it).
    function restartStream() {
      if (stream) stream.stop();
      stream = null;
      var results = document.getElementById("results");
      if (!results || results.getAttribute("data-live") !== "1") return;
      stream = new LiveStream(
        toggle.getAttribute("data-stream") + window.location.search,
        results.getAttribute("data-refreshed"),
        placeRows,
        note
      );
      if (live && live.on()) stream.start();
    }

    function placeRows(rows) {
      var list = document.getElementById("event-list");
      if (!list) return;
      var hasOlder = !!document.getElementById("older");
      var nodes = [];
      rows.forEach(function (row) {
        if (document.getElementById("ev-" + row.id)) return; // shown already
        var node = parseFragment(row.html).querySelector("details.event");
        if (node) nodes.push(node);
      });
      if (!nodes.length) return;
      var done = keepingPlace(list, nodes, function (node) {
        var at = time(node.getAttribute("data-ts"));
        var before = null;
        list.querySelectorAll(":scope > details.event").forEach(function (row) {
          if (!before && time(row.getAttribute("data-ts")) < at) before = row;
        });
        if (!before && hasOlder) return false; // it belongs on an older page
        node.classList.add("fresh");
        list.insertBefore(node, before);
        return true;
      });
      var empty = document.getElementById("empty-state");
      if (done.placed.length && empty) empty.remove();
      if (done.above.length) toast.show(done.above.length);
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
      if (!options.quiet) {
        document.body.classList.add("loading");
        if (!slot.querySelector(".skeleton")) slot.prepend(skeleton(8));
      }
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
        if (note && !(stream && stream.connected)) {
          note.textContent = "updated " + new Date().toLocaleTimeString();
        }
        toast.hide();
        restartStream();
        if (!options.quiet) loadPresets();
      }).catch(function (error) {
        if (note) note.textContent = "refresh failed (" + error.message + ")";
      }).finally(function () {
        if (mine === sequence) {
          document.body.classList.remove("loading");
          slot.querySelectorAll(".skeleton").forEach(function (s) { s.remove(); });
        }
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

    if (toggle) {
      live = liveToggle(toggle, note, function () { return stream; }, function () {
        var results = document.getElementById("results");
        if (!results || results.getAttribute("data-live") !== "1") return;
        load(window.location.pathname + window.location.search, { quiet: true, markNew: true });
      });
    }
    restartStream();
    loadPresets();

    return {
      form: form,
      apply: applyFilters,
      refresh: function () {
        return load(window.location.pathname + window.location.search, { quiet: true, markNew: true });
      },
      clearSearch: function () {
        var search = form.querySelector("input[name=search]");
        if (!search || !search.value) return false;
        search.value = "";
        applyFilters(true);
        return true;
      },
      search: function (text) {
        var search = form.querySelector("input[name=search]");
        if (!search) return;
        search.value = text;
        applyFilters(true);
      }
    };
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

  // ---- a browser row's lead context (and its recent events), read when first opened ---------
  function loadHolders(root) {
    root.querySelectorAll("[data-src]:not([data-loaded])").forEach(function (holder) {
      holder.setAttribute("data-loaded", "1");
      fetchPartial(holder.getAttribute("data-src")).then(function (html) {
        holder.replaceChildren(parseFragment(html));
        loadHolders(holder);
      }).catch(function () {
        holder.removeAttribute("data-loaded");
        holder.textContent = "This could not be read.";
      });
    });
  }

  document.addEventListener("toggle", function (event) {
    var row = event.target;
    if (!row.matches || !row.matches("details.event") || !row.open) return;
    loadHolders(row);
  }, true);

  // ---- the lead timeline: live rows, refresh now, load older -----------------------------------
  var timelineView = null;

  function setupTimeline(toggle) {
    var timeline = document.getElementById("timeline");
    var note = document.getElementById("refresh-note");
    var page = timeline.querySelector(".timeline-page");
    var stream = new LiveStream(
      toggle.getAttribute("data-stream"),
      page ? page.getAttribute("data-refreshed") : null,
      placeRows,
      note
    );

    function section(key, title) {
      var day = document.createElement("section");
      day.className = "day";
      day.setAttribute("data-day", key);
      var head = document.createElement("h2");
      head.className = "day-head";
      head.textContent = title;
      var list = document.createElement("div");
      list.className = "event-list";
      day.append(head, list);
      return day;
    }

    function topRows() {
      return Array.prototype.slice.call(timeline.querySelectorAll("details.event:not(.reply)"));
    }

    function place(node, row) {
      var parent = row.parent ? document.getElementById("ev-" + row.parent) : null;
      if (parent) {
        // Under its message, after the replies it already has.
        var anchor = parent;
        while (anchor.nextElementSibling && anchor.nextElementSibling.matches("details.event.reply")) {
          anchor = anchor.nextElementSibling;
        }
        anchor.after(node);
        return true;
      }
      node.classList.remove("reply");
      node.removeAttribute("data-parent");
      var at = time(node.getAttribute("data-ts"));
      var next = null;
      topRows().forEach(function (r) { if (!next && time(r.getAttribute("data-ts")) < at) next = r; });
      var holder = timeline.querySelector(".timeline-page") || timeline;
      if (!next) {
        if (document.getElementById("load-older")) return false; // on an older page
        var days = holder.querySelectorAll("section.day");
        var last = days[days.length - 1];
        if (!last || last.getAttribute("data-day") !== row.day.key) {
          last = section(row.day.key, row.day.title);
          var more = holder.querySelector(".load-older");
          holder.insertBefore(last, more);
        }
        last.querySelector(".event-list").appendChild(node);
        return true;
      }
      var day = next.closest("section.day");
      if (day.getAttribute("data-day") === row.day.key) {
        // Before the next older row, and before a high-activity mark that heads it.
        var before = next.previousElementSibling && next.previousElementSibling.matches(".busy-day") ? next.previousElementSibling : next;
        before.before(node);
        return true;
      }
      var previous = day.previousElementSibling;
      if (previous && previous.matches("section.day") && previous.getAttribute("data-day") === row.day.key) {
        previous.querySelector(".event-list").appendChild(node);
      } else {
        var fresh = section(row.day.key, row.day.title);
        day.before(fresh);
        fresh.querySelector(".event-list").appendChild(node);
      }
      return true;
    }

    function placeRows(rows) {
      var byNode = [];
      rows.forEach(function (row) {
        if (document.getElementById("ev-" + row.id)) return;
        var node = parseFragment(row.html).querySelector("details.event");
        if (!node) return;
        node.__row = row;
        byNode.push(node);
      });
      if (!byNode.length) return;
      var done = keepingPlace(timeline, byNode, function (node) {
        node.classList.add("fresh");
        return place(node, node.__row);
      });
      var empty = document.getElementById("empty-state");
      if (done.placed.length && empty) empty.remove();
      if (done.above.length) toast.show(done.above.length);
    }

    function refresh() {
      // Once older pages are loaded the reader is looking back: the list is not replaced.
      if (timeline.getAttribute("data-appended")) return Promise.resolve();
      var before = {};
      timeline.querySelectorAll("details.event").forEach(function (row) { before[row.id] = row.open ? "open" : "shut"; });
      return fetchPartial(toggle.getAttribute("data-live-url")).then(function (html) {
        if (timeline.getAttribute("data-appended")) return;
        var fragment = parseFragment(html);
        fragment.querySelectorAll("details.event").forEach(function (row) {
          if (!before[row.id]) row.classList.add("fresh");
          if (before[row.id] === "open") row.open = true;
        });
        timeline.replaceChildren(fragment);
        if (note && !stream.connected) note.textContent = "updated " + new Date().toLocaleTimeString();
      }).catch(function (error) {
        if (note) note.textContent = "refresh failed (" + error.message + ")";
      });
    }

    liveToggle(toggle, note, function () { return stream; }, refresh);
    return { refresh: refresh };
  }

  // "Load older" on the lead timeline: the next page after the rows shown.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-append]");
    if (!link) return;
    event.preventDefault();
    var target = document.querySelector(link.getAttribute("data-append"));
    var holder = link.parentElement;
    target.setAttribute("data-appended", "1");
    link.textContent = "Loading…";
    var waiting = skeleton(4);
    holder.before(waiting);
    fetchPartial(link.href).then(function (html) {
      var fragment = parseFragment(html);
      fragment.querySelectorAll("section.day").forEach(function (day) {
        var sections = target.querySelectorAll("section.day");
        var last = sections[sections.length - 1];
        if (last && last.getAttribute("data-day") === day.getAttribute("data-day")) {
          // The page boundary fell inside a day: continue that day instead of repeating it.
          var list = last.querySelector(".event-list");
          day.querySelectorAll(".event-list > *").forEach(function (row) { list.appendChild(row); });
        } else {
          holder.parentElement.insertBefore(day, waiting);
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
    }).finally(function () {
      waiting.remove();
    });
  });

  // ---- the quick filter menu (Ctrl+K / ⌘K) ---------------------------------------------------
  var quick = null;

  function setupQuickFilter(dialog) {
    var input = document.getElementById("quick-filter-input");
    var list = document.getElementById("quick-filter-list");
    var items = [];
    var active = 0;

    function navigate(href) { return function () { window.location.href = href; }; }

    function collect(text) {
      var words = text.toLowerCase().split(/\s+/).filter(Boolean);
      var out = [];
      document.querySelectorAll("#category-chips .chip, #lead-chips .chip").forEach(function (chip) {
        var name = chip.childNodes[0].textContent.trim();
        var count = chip.querySelector("b");
        var category = chip.getAttribute("data-category");
        var on = chip.classList.contains("active");
        out.push({
          kind: "Category",
          label: category ? name + (on ? " (remove)" : " (add)") : "All categories",
          detail: count ? count.textContent : "",
          run: navigate(chip.href)
        });
      });
      document.querySelectorAll("#time-presets a").forEach(function (preset) {
        var count = preset.querySelector("b");
        out.push({
          kind: "When",
          label: preset.childNodes[0].textContent.trim(),
          detail: count ? count.textContent : "",
          run: navigate(preset.href)
        });
      });
      if (browser) {
        browser.form.querySelectorAll("input[name=eventType]").forEach(function (box) {
          out.push({
            kind: "Type",
            label: box.parentElement.textContent.trim(),
            detail: "",
            run: function () {
              browser.form.querySelectorAll("input[name=eventType]").forEach(function (other) { other.checked = other === box; });
              browser.apply(true);
            }
          });
        });
        out.push({ kind: "Filters", label: "Clear all filters", detail: "", run: navigate("/admin/activity-logs") });
      }
      var shown = out.filter(function (item) {
        var hay = (item.kind + " " + item.label).toLowerCase();
        return words.every(function (w) { return hay.indexOf(w) >= 0; });
      });
      if (text.trim() && browser) {
        // The typed words as a search: first when nothing else fits, else last.
        shown[shown.length ? "push" : "unshift"]({
          kind: "Search",
          label: "“" + text.trim() + "”",
          detail: "",
          run: function () { browser.search(text.trim()); }
        });
      }
      return shown.length > 14 ? shown.slice(0, 13).concat(shown.slice(-1)) : shown;
    }

    function render() {
      items = collect(input.value);
      active = Math.min(active, Math.max(items.length - 1, 0));
      list.replaceChildren.apply(list, items.map(function (item, index) {
        var option = document.createElement("li");
        option.id = "qf-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", index === active ? "true" : "false");
        option.className = "qf-item" + (index === active ? " active" : "");
        var kind = document.createElement("span");
        kind.className = "qf-kind";
        kind.textContent = item.kind;
        var label = document.createElement("span");
        label.className = "qf-label";
        label.textContent = item.label;
        option.append(kind, label);
        if (item.detail) {
          var detail = document.createElement("b");
          detail.textContent = item.detail;
          option.appendChild(detail);
        }
        option.addEventListener("click", function () { run(index); });
        return option;
      }));
      if (items.length) input.setAttribute("aria-activedescendant", "qf-" + active);
      else input.removeAttribute("aria-activedescendant");
    }

    function run(index) {
      var item = items[index];
      if (!item) return;
      dialog.close();
      item.run();
    }

    input.addEventListener("input", function () { active = 0; render(); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!items.length) return;
        active = (active + (event.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
        render();
        var current = document.getElementById("qf-" + active);
        if (current) current.scrollIntoView({ block: "nearest" });
      } else if (event.key === "Enter") {
        event.preventDefault();
        run(active);
      }
    });

    return {
      open: function () {
        if (dialog.open) return;
        input.value = "";
        active = 0;
        render();
        dialog.showModal();
        input.focus();
      }
    };
  }

  // ---- keyboard: / search, ⌘K menu, j/k ↑/↓ rows, Enter opens, r refresh, Esc, e, ? ----------
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

  function refreshNow() {
    if (browser) return browser.refresh();
    if (timelineView) return timelineView.refresh();
    return null;
  }

  // Esc: close what is open (the type picker, open rows, the toast) and clear the search.
  function escape() {
    var picker = document.getElementById("type-picker");
    if (picker && picker.open) picker.open = false;
    document.querySelectorAll("details.event[open]").forEach(function (row) { row.open = false; });
    toast.hide();
    if (browser) browser.clearSearch();
  }

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "k" || event.key === "K")) {
      if (quick) {
        event.preventDefault();
        quick.open();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable=true]")) {
      if (event.key === "Escape" && !target.closest("dialog")) {
        if (target.name === "search" && target.value && browser) {
          event.preventDefault();
          browser.clearSearch();
        } else {
          target.blur();
        }
      }
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    if (event.key === "/") {
      var search = document.querySelector("input[name=search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "j" || event.key === "k" || event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!document.querySelector("details.event")) return;
      event.preventDefault();
      moveRow(event.key === "j" || event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter" && currentRow && !target.closest("summary, a, button")) {
      event.preventDefault();
      currentRow.open = !currentRow.open;
    } else if (event.key === "r" || event.key === "R") {
      if (refreshNow()) event.preventDefault();
    } else if (event.key === "Escape") {
      escape();
    } else if (event.key === "e") {
      var exportLink = document.getElementById("export-csv");
      if (exportLink) { event.preventDefault(); exportLink.click(); }
    } else if (event.key === "?") {
      var dialog = document.getElementById("shortcuts");
      if (dialog) { event.preventDefault(); dialog.showModal(); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("filters");
    if (form && document.getElementById("results-slot")) browser = setupBrowser(form);
    var leadInput = document.getElementById("lead-input");
    if (leadInput) setupLeadSuggestions(leadInput);
    var liveToggleBox = document.querySelector("#auto-refresh[data-live-url]");
    if (liveToggleBox && document.getElementById("timeline")) timelineView = setupTimeline(liveToggleBox);
    var quickDialog = document.getElementById("quick-filter");
    if (quickDialog) quick = setupQuickFilter(quickDialog);
    var quickButton = document.getElementById("quick-filter-button");
    if (quickButton && quick) quickButton.addEventListener("click", function () { quick.open(); });
    var shortcuts = document.getElementById("shortcuts-button");
    if (shortcuts) shortcuts.addEventListener("click", function () { document.getElementById("shortcuts").showModal(); });
    var zoneButton = document.getElementById("use-browser-zone");
    if (zoneButton) zoneButton.addEventListener("click", function () {
      document.getElementById("time-zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    });
  });
})();
