// The workspace's small behaviours, no framework and nothing fetched from elsewhere:
// - the queue refreshes its counts and rows every 5 s from /workspace/queue/rows;
// - the reply composer counts SMS characters and segments as the counsellor types.
(function () {
  "use strict";
  var live = document.getElementById("queue-live");
  if (live) {
    var refresh = function () {
      if (document.hidden) { return; }
      fetch(live.dataset.src, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
        .then(function (html) { if (html !== null) { live.innerHTML = html; } })
        .catch(function () { /* next tick tries again */ });
    };
    setInterval(refresh, 5000);
  }

  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "^{}\\[~]|€\f";
  function smsCount(text) {
    var gsm = true, units = 0, i;
    for (i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (GSM.indexOf(ch) >= 0) { units += 1; } else if (EXT.indexOf(ch) >= 0) { units += 2; } else { gsm = false; break; }
    }
    var single = 160, part = 153, enc = "GSM-7";
    if (!gsm) { units = text.length; single = 70; part = 67; enc = "UCS-2"; }
    var segments = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / part));
    return { length: Array.from(text).length, segments: segments, encoding: enc };
  }
  var form = document.querySelector('form[data-testid="reply-form"]');
  if (form) {
    var body = form.querySelector('textarea[name="body"]');
    var out = form.querySelector('[data-testid="sms-count"]');
    var update = function () {
      var c = smsCount(body.value);
      out.textContent = out.dataset.template.replace("{length}", c.length)
        .replace("{segments}", c.segments).replace("{encoding}", c.encoding);
    };
    body.addEventListener("input", update);
  }
})();
