// The live parts of the page, from the box's server-sent events (/events): the list of
// events on the dashboard, and the vehicles per lane, counted up as vehicles enter.
(function () {
  const list = document.getElementById("events");
  if (!list || !window.EventSource) return;
  // Every kind the box sends (vod_core::Event::KINDS; a test keeps the two in step).
  const kinds = ["scanner_connected", "scanner_disconnected", "vehicle_entered", "vehicle_left",
    "capture_stored", "component_restarted", "captures_evicted", "storage_degraded",
    "storage_recovered", "push_endpoint_disabled", "config_changed", "missed"];
  const source = new EventSource(list.dataset.source);
  for (const kind of kinds) {
    source.addEventListener(kind, (message) => {
      const item = document.createElement("li");
      item.textContent = new Date().toLocaleTimeString() + " " + kind + " " + message.data;
      list.prepend(item);
      while (list.children.length > 50) list.lastChild.remove();
      if (kind === "vehicle_entered") countVehicle(JSON.parse(message.data).lane);
    });
  }
  function countVehicle(lane) {
    for (const count of document.querySelectorAll("#lanes .count")) {
      if (count.dataset.lane === lane) count.textContent = String(Number(count.textContent) + 1);
    }
  }
})();

// The LIDAR page: each scanner's drawing is fetched again twice a second.
(function () {
  const scans = document.querySelectorAll("img.live-scan");
  if (scans.length === 0) return;
  setInterval(() => {
    for (const scan of scans) scan.src = scan.dataset.src + "?at=" + Date.now();
  }, 500);
})();

// The logs page: the list is read again every two seconds while "live" is ticked.
(function () {
  const list = document.getElementById("log-lines");
  const live = document.getElementById("logs-live");
  if (!list || !live) return;
  setInterval(async () => {
    if (!live.checked) return;
    const answer = await fetch(location.href, { credentials: "same-origin" });
    if (!answer.ok) return;
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const fresh = page.getElementById("log-lines");
    if (fresh) list.innerHTML = fresh.innerHTML;
  }, 2000);
})();
