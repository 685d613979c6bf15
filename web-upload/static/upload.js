// Progressive enhancement of the upload form: the "all" warning shows only when "all" is
// chosen, and sending an "all" sheet asks for confirmation. Without JavaScript the warning's
// checkbox is always shown and the server insists on it.
(function () {
  var form = document.getElementById("upload");
  if (!form) return;
  document.documentElement.className += " js";
  var op = document.getElementById("operation");
  var warning = document.getElementById("all-warning");
  var confirmAll = document.getElementById("confirm-all");
  function sync() {
    warning.className = op.value === "all" ? "warning shown" : "warning";
  }
  op.addEventListener("change", sync);
  sync();
  form.addEventListener("submit", function (e) {
    if (op.value !== "all") return;
    var env = document.getElementById("environment").value;
    var iface = document.getElementById("interface").value;
    if (!window.confirm("Replace ALL " + iface + " rows in " + env +
        " with the rows of this sheet? Rows not in the sheet will be removed.")) {
      e.preventDefault();
      return;
    }
    confirmAll.checked = true;
  });
})();
