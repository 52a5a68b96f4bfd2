// The dashboard's only script besides htmx: "select every job on this page".
document.addEventListener("change", function (event) {
  var box = event.target;
  if (box && box.id === "select-all") {
    document.querySelectorAll("input.pick").forEach(function (pick) {
      pick.checked = box.checked;
    });
  }
});
