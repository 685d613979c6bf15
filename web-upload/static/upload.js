// Progressive enhancement of the upload form: the "all" warning shows only when "all" is
// chosen, and sending an "all" sheet asks for confirmation. Without JavaScript the warning's
// checkbox is always shown and the server insists on it.
(function () {
  // Action buttons (execute now, revert, cancel) that ask first; the answer travels in the
  // form so the server does not ask again.
  var acts = document.querySelectorAll("form.act");
  for (var i = 0; i < acts.length; i++) {
    acts[i].addEventListener("submit", function (e) {
      var button = this.querySelector("button");
      var question = button && button.getAttribute("data-confirm");
      if (!question) return;
      if (!window.confirm(question)) {
        e.preventDefault();
        return;
      }
      this.querySelector("input[name=confirmed]").value = "yes";
    });
  }
  // Times: the server writes UTC; show them in this browser's time zone, UTC on hover.
  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function local(d) {
    var offset = -d.getTimezoneOffset();
    var sign = offset < 0 ? "-" : "+";
    offset = Math.abs(offset);
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) +
      " UTC" + sign + two(Math.floor(offset / 60)) + ":" + two(offset % 60);
  }
  var moments = document.querySelectorAll("time.moment[datetime]");
  for (var m = 0; m < moments.length; m++) {
    var when = new Date(moments[m].getAttribute("datetime"));
    if (!isNaN(when.getTime())) moments[m].textContent = local(when);
  }
  var form = document.getElementById("upload");
  if (!form) return;
  document.documentElement.className += " js";
  var op = document.getElementById("operation");
  var warning = document.getElementById("all-warning");
  var confirmAll = document.getElementById("confirm-all");
  function sync() {
    warning.className = op.value === "all" ? "warning shown" : "warning";
  }
  // Minutes east of UTC, so the page can write the times with this browser's offset.
  document.getElementById("tz").value = String(-new Date().getTimezoneOffset());
  op.addEventListener("change", sync);
  sync();
  // The button says what will happen: a check applies nothing.
  var checkOnly = document.getElementById("check-only");
  var submit = document.getElementById("upload-submit");
  function label() {
    submit.textContent = form.getAttribute(checkOnly.checked ? "data-t-check" : "data-t-apply");
  }
  checkOnly.addEventListener("change", label);
  label();
  form.addEventListener("submit", function (e) {
    if (op.value !== "all") return;
    var env = document.getElementById("environment").value;
    var iface = document.getElementById("interface").value;
    // The question's words come from the page (data-t-*), in the page's language.
    var question = form.getAttribute(checkOnly.checked ? "data-t-check-all" : "data-t-apply-all")
      .split("{interface}").join(iface).split("{env}").join(env);
    if (!window.confirm(question)) {
      e.preventDefault();
      return;
    }
    confirmAll.checked = true;
  });
})();
