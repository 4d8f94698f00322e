// Placeholder: shows the overview as text (the real page replaces this).
"use strict";
fetch("api/v1/overview").then(function (r) { return r.json(); })
  .then(function (o) {
    document.getElementById("overview").textContent = JSON.stringify(o, null, 2);
  });
