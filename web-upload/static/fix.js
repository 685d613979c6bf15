// The grid of failing rows (web-upload/src/fix.rs): the rows come as JSON and are shown 100
// at a time; a row is checked by the server (core's rules) when a cell of it changes; the
// corrected sheet is sent when every row passes. The rules themselves are never here.
(function () {
  "use strict";
  var root = document.getElementById("grid");
  if (!root) return;
  var PER_PAGE = 100;
  var csrf = root.getAttribute("data-csrf");
  var table = document.getElementById("fix-table");
  var status = document.getElementById("grid-status");
  var pageLabel = document.getElementById("grid-page");
  var errorBox = document.getElementById("grid-error");
  var submit = document.getElementById("grid-submit");
  // Every word the grid shows comes from the page (data-t-*), in the page's language.
  function say(name, values) {
    var text = root.getAttribute("data-t-" + name) || "";
    Object.keys(values || {}).forEach(function (k) {
      text = text.split("{" + k + "}").join(String(values[k]));
    });
    return text;
  }
  var columns = [];
  var rows = []; // {line, values, problems, edited, checking}
  var page = 0;

  function failing() {
    var n = 0;
    for (var i = 0; i < rows.length; i++) if (rows[i].problems.length) n++;
    return n;
  }
  function fieldProblems(row, field) {
    return row.problems.filter(function (p) {
      return p.field.split(",").map(function (f) { return f.trim(); }).indexOf(field) >= 0;
    });
  }
  function showStatus() {
    var n = failing();
    status.textContent = n === 0
      ? say("passes")
      : say("failing", { n: n, total: rows.length });
    submit.disabled = n !== 0 || rows.some(function (r) { return r.checking; });
    var pages = Math.max(1, Math.ceil(rows.length / PER_PAGE));
    pageLabel.textContent = say("page", { page: page + 1, pages: pages });
    document.getElementById("grid-prev").disabled = page === 0;
    document.getElementById("grid-next").disabled = page + 1 >= pages;
  }
  // A row's cells are made once; a check's answer only re-marks them, so typing in another
  // cell of the row is never lost when an answer arrives.
  function renderRow(tr, row) {
    var th = document.createElement("th");
    th.textContent = row.line;
    tr.appendChild(th);
    columns.forEach(function (field, i) {
      var td = document.createElement("td");
      var input = document.createElement("input");
      input.value = row.values[i];
      input.setAttribute("aria-label", say("cell", { field: field, line: row.line }));
      input.setAttribute("data-line", row.line);
      input.setAttribute("data-field", field);
      var hint = document.createElement("small");
      hint.className = "hint";
      td.appendChild(input);
      td.appendChild(hint);
      input.addEventListener("change", function () {
        row.values[i] = input.value;
        row.edited = true;
        check(row, tr);
      });
      tr.appendChild(td);
    });
    var last = document.createElement("td");
    last.className = "row-hint";
    tr.appendChild(last);
    markRow(tr, row);
  }
  function markRow(tr, row) {
    tr.className = row.problems.length ? "failing" : "passing";
    var cells = tr.querySelectorAll("td");
    columns.forEach(function (field, i) {
      var probs = fieldProblems(row, field);
      var hint = cells[i].querySelector("small.hint");
      cells[i].className = probs.length ? "bad" : "";
      hint.textContent = probs.map(function (p) { return p.hint; }).join(" ");
      hint.hidden = !probs.length;
    });
    cells[columns.length].textContent = row.problems
      .filter(function (p) { return p.field === ""; })
      .map(function (p) { return p.hint; })
      .join(" ");
  }
  function render() {
    var head = table.tHead;
    head.textContent = "";
    var hr = document.createElement("tr");
    [say("row")].concat(columns).concat([""]).forEach(function (name) {
      var th = document.createElement("th");
      th.textContent = name;
      hr.appendChild(th);
    });
    head.appendChild(hr);
    var body = table.tBodies[0];
    body.textContent = "";
    rows.slice(page * PER_PAGE, (page + 1) * PER_PAGE).forEach(function (row) {
      var tr = document.createElement("tr");
      renderRow(tr, row);
      body.appendChild(tr);
    });
    showStatus();
  }
  function post(url, body) {
    body.csrf = csrf;
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
        return j;
      });
    });
  }
  function fail(e) {
    errorBox.hidden = false;
    errorBox.textContent = e.message;
  }
  // Checks under way (the page says how many in data-pending, for tests and styles).
  var pending = 0;
  function settle(delta) {
    pending += delta;
    root.setAttribute("data-pending", pending);
  }
  function check(row, tr) {
    var values = {};
    columns.forEach(function (f, i) { values[f] = row.values[i]; });
    row.checking = true;
    settle(1);
    showStatus();
    post(root.getAttribute("data-check"), { line: row.line, values: values })
      .then(function (j) {
        // An older answer for a row edited since is not the row's state.
        if (columns.some(function (f, i) { return values[f] !== row.values[i]; })) return;
        row.problems = j.problems;
        row.checking = false;
        if (tr.isConnected) markRow(tr, row);
      })
      .catch(function (e) { row.checking = false; fail(e); })
      .then(function () { settle(-1); showStatus(); });
  }
  document.getElementById("grid-prev").addEventListener("click", function () {
    if (page > 0) { page--; render(); }
  });
  document.getElementById("grid-next").addEventListener("click", function () {
    if ((page + 1) * PER_PAGE < rows.length) { page++; render(); }
  });
  submit.addEventListener("click", function () {
    var edits = {};
    rows.forEach(function (row) {
      if (!row.edited) return;
      var values = {};
      columns.forEach(function (f, i) { values[f] = row.values[i]; });
      edits[row.line] = values;
    });
    submit.disabled = true;
    status.textContent = say("sending");
    post(root.getAttribute("data-submit"), { edits: edits })
      .then(function (j) { window.location.href = j.href; })
      .catch(function (e) { fail(e); showStatus(); });
  });
  fetch(root.getAttribute("data-rows"), { credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) throw new Error(say("unloaded", { status: r.status }));
      return r.json();
    })
    .then(function (j) {
      settle(0);
      columns = j.columns;
      rows = j.rows.map(function (r) {
        return { line: r.line, values: r.values, problems: r.problems, edited: false, checking: false };
      });
      if (j.shown < j.failing) {
        fail(new Error(say("partial", { shown: j.shown, failing: j.failing })));
      }
      render();
    })
    .catch(fail);
})();
