/* borderwatch web map: Leaflet, bundled data, the channel's live feed. No outside requests. */
(function () {
  "use strict";

  var I18N = {
    en: {
      title: "borderwatch", login: "Log in", logout: "Log out", code: "login code",
      breaches: "Breach alerts", messages: "Channel messages", replay: "Replay a simulation run",
      play: "Play", pause: "Pause", status: "Status", loggedout: "Not logged in",
      loggedin: "Logged in as", live: "live", offline: "offline", synthetic: "Terrain: SYNTHETIC",
      ack: "Acknowledge", acked: "acknowledged", countries: "Countries (Natural Earth)",
      terrain: "Terrain shading", terrainSynthetic: "Terrain shading (SYNTHETIC)",
      border: "Border and sectors (coverage)", towers: "Towers and what they see",
      blind: "Blind stretches", orbits: "Air orbits (on station now)", patrols: "Patrol coverage",
      tracks: "Live tracks", breachLayer: "Breach alerts", water: "Water (scenario)",
      places: "Places", replayLayer: "Simulated crossings (replay)", sector: "sector",
      towerSeen: "seen by towers", patrol: "patrol coverage", residual: "residual risk",
      onStation: "on station", offStation: "no aircraft on station", crossed: "crossed",
      alerted: "alerted", track: "track", from: "from", confidence: "confidence",
      loginFailed: "login failed", groups: "groups crossed"
    },
    ar: {
      title: "مراقبة الحدود", login: "دخول", logout: "خروج", code: "رمز الدخول",
      breaches: "تنبيهات الاختراق", messages: "رسائل القناة", replay: "إعادة تشغيل محاكاة",
      play: "تشغيل", pause: "إيقاف", status: "الحالة", loggedout: "لم يتم تسجيل الدخول",
      loggedin: "تم الدخول باسم", live: "مباشر", offline: "غير متصل", synthetic: "التضاريس: اصطناعية",
      ack: "إقرار بالاستلام", acked: "تم الإقرار", countries: "الدول (Natural Earth)",
      terrain: "تظليل التضاريس", terrainSynthetic: "تظليل التضاريس (اصطناعي)",
      border: "الحدود والقطاعات (التغطية)", towers: "الأبراج وما تراه",
      blind: "المقاطع غير المرئية", orbits: "مدارات الطائرات (في الموقع الآن)", patrols: "تغطية الدوريات",
      tracks: "المسارات المباشرة", breachLayer: "تنبيهات الاختراق", water: "المياه (السيناريو)",
      places: "الأماكن", replayLayer: "عبورات محاكاة (إعادة)", sector: "القطاع",
      towerSeen: "تراه الأبراج", patrol: "تغطية الدوريات", residual: "الخطر المتبقي",
      onStation: "في الموقع", offStation: "لا طائرة في الموقع", crossed: "عبر",
      alerted: "نُبِّه", track: "مسار", from: "من", confidence: "الثقة",
      loginFailed: "فشل الدخول", groups: "مجموعات عبرت"
    }
  };
  var lang = localStorage.getItem("bw-lang") || "en";
  function t(key) { return (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key; }
  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function getJSON(url, opts) {
    return fetch(url, opts).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.json();
    });
  }

  var bw = window.bw = { ready: false, tracks: {}, breaches: {}, messages: {}, layers: {} };
  var map = bw.map = L.map("map", { preferCanvas: false, zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix(false);
  map.createPane("basemap").style.zIndex = 250;       // below the overlays (terrain shading included)
  map.attributionControl.addAttribution("Natural Earth (public domain)");
  var canvas = L.canvas({ padding: 0.2 });
  var config = null, session = sessionStorage.getItem("bw-session"),
    sessionParty = sessionStorage.getItem("bw-party"), ws = null, lastPosition = 0,
    control = null, nowOverride = null;

  // -- layers ----------------------------------------------------------------
  function colourFor(p) {
    if (p.residual == null) { return "#b2182b"; }
    var seen = Math.max(p.tower_seen || 0, p.patrol_coverage || 0, p.air ? 1 : 0);
    return seen >= 0.9 ? "#1a9641" : seen >= 0.6 ? "#a6d96a" : seen >= 0.3 ? "#fdae61" : "#d7191c";
  }
  function sectorPopup(p) {
    var s = "<b>" + t("sector") + " " + p.sector + "</b> (" + p.from_km + "–" + p.to_km + " km)";
    if (p.residual != null) {
      s += "<br>" + t("towerSeen") + ": " + Math.round(p.tower_seen * 100) + "%<br>" + t("patrol") +
        ": " + Math.round(p.patrol_coverage * 100) + "%<br>" + t("residual") + ": " +
        (p.residual * 100).toFixed(1) + "%";
    }
    return s;
  }
  var countryLabels = L.layerGroup();
  function largestRingCentre(geom) {
    var best = null, bestN = -1;
    geom.coordinates.forEach(function (poly) {
      if (poly[0].length > bestN) { bestN = poly[0].length; best = poly[0]; }
    });
    var x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
    best.forEach(function (p) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); });
    return [(y0 + y1) / 2, (x0 + x1) / 2];
  }
  function drawCountryLabels() {
    countryLabels.clearLayers();
    (bw.countryFeatures || []).forEach(function (f) {
      if (f.properties.scale !== "10m") { return; }
      var name = lang === "ar" && f.properties.name_ar ? f.properties.name_ar : f.properties.name;
      L.marker(largestRingCentre(f.geometry), {
        interactive: false,
        icon: L.divIcon({ className: "bw-label bw-country-label", html: esc(name), iconSize: null })
      }).addTo(countryLabels);
    });
  }

  function orbitOnStation(id, hour) {
    var sorties = (bw.roster && bw.roster.sorties) || [];
    return sorties.filter(function (s) {
      return s.orbit === id && ((s.on_station_h <= hour && hour < s.off_station_h) ||
        (s.on_station_h <= hour + 24 && hour + 24 < s.off_station_h));
    });
  }
  function hourNow() {
    if (nowOverride != null) { return (nowOverride / 3600) % 24; }
    var d = new Date();
    return d.getUTCHours() + d.getUTCMinutes() / 60;
  }
  function refreshOrbits() {
    if (!bw.layers.orbits) { return; }
    var h = hourNow();
    bw.layers.orbits.eachLayer(function (l) {
      var on = orbitOnStation(l.feature.properties.id, h);
      l.setStyle({ color: on.length ? "#762a83" : "#999", fillOpacity: on.length ? 0.25 : 0.05 });
      l.bindTooltip(esc(l.feature.properties.id) + ": " + (on.length ? t("onStation") + " " +
        on.map(function (s) { return esc(s.aircraft); }).join(", ") : t("offStation")));
    });
  }

  function addOverlay(name, key, layer, on) {
    bw.layers[key] = layer;
    control.addOverlay(layer, '<span data-layer="' + key + '">' + esc(t(name)) + "</span>");
    if (on) { layer.addTo(map); }
  }

  function loadLayers() {
    var want = config.layers;
    var jobs = [];
    var base = getJSON("/web/data/countries.geojson").then(function (fc) {
      bw.countryFeatures = fc.features;
      var layer = L.geoJSON(fc, {
        style: { color: "#7a7a7a", weight: 1, fillColor: "#f2efe6", fillOpacity: 1, className: "bw-country" },
        pane: "basemap", interactive: false
      });
      L.layerGroup([layer, countryLabels]).addTo(map);
      drawCountryLabels();
      bw.layers.countries = layer;
      return getJSON("/web/data/rivers.geojson").then(function (rv) {
        // Natural Earth 1:50m rivers and lakes, drawn with the basemap under every overlay.
        bw.layers.rivers = L.geoJSON(rv, {
          style: function (f) {
            return f.properties.kind === "lake"
              ? { color: "#6fa8d6", weight: 0.8, fillColor: "#a9cfee", fillOpacity: 1, className: "bw-lake" }
              : { color: "#5b9bd0", weight: 1.6, className: "bw-river" };
          },
          pane: "basemap", interactive: false
        }).addTo(map);
      });
    });
    jobs.push(base);
    return base.then(function () {
      if (config.terrain) {
        var b = config.terrain.bounds;
        addOverlay(config.terrain.synthetic ? "terrainSynthetic" : "terrain", "terrain",
          L.imageOverlay("/web/data/terrain.png", b, { opacity: 0.65, className: "bw-terrain" }), true);
        $("synthetic").hidden = !config.terrain.synthetic;
      }
      function geo(name) { return want.indexOf(name) >= 0 ? getJSON("/web/data/" + name + ".geojson") : Promise.resolve(null); }
      return Promise.all(["water", "border", "places", "patrols", "visible", "blind", "towers", "orbits"].map(geo)
        .concat([want.indexOf("roster") >= 0 ? getJSON("/web/data/roster.json") : Promise.resolve(null)]));
    }).then(function (r) {
      var water = r[0], border = r[1], places = r[2], patrols = r[3], visible = r[4], blind = r[5],
        towers = r[6], orbits = r[7];
      bw.roster = r[8];
      if (water && water.features.length) {
        addOverlay("water", "water", L.geoJSON(water, { style: { color: "#4a90c2", weight: 1, fillColor: "#8cc2e6", fillOpacity: 0.8 }, interactive: false }), true);
      }
      if (patrols) {
        addOverlay("patrols", "patrols", L.geoJSON(patrols, {
          style: function (f) { return { color: "#2166ac", weight: 3 + 8 * f.properties.coverage, opacity: 0.25 + 0.6 * f.properties.coverage, className: "bw-patrol" }; }
        }), true);
      }
      if (border) {
        var bl = L.geoJSON(border, {
          style: function (f) { return { color: colourFor(f.properties), weight: 4, className: "bw-border" }; },
          onEachFeature: function (f, l) { l.bindPopup(function () { return sectorPopup(f.properties); }); }
        });
        addOverlay("border", "border", bl, true);
        map.fitBounds(bl.getBounds(), { padding: [30, 30] });
      }
      if (towers) {
        var tl = L.layerGroup();
        if (visible) { L.geoJSON(visible, { style: { color: "#4dac26", weight: 7, opacity: 0.55, className: "bw-visible" }, interactive: false }).addTo(tl); }
        L.geoJSON(towers, {
          pointToLayer: function (f, ll) {
            return L.circleMarker(ll, { radius: 5, color: "#000", weight: 1, fillColor: "#4dac26", fillOpacity: 1, className: "bw-tower" })
              .bindTooltip(esc(f.properties.id) + " · " + f.properties.mast_m + " m · " + f.properties.range_km + " km");
          }
        }).addTo(tl);
        addOverlay("towers", "towers", tl, true);
      }
      if (blind) {
        addOverlay("blind", "blind", L.geoJSON(blind, { style: { color: "#000", weight: 4, dashArray: "4 4", className: "bw-blind" }, interactive: false }), false);
      }
      if (orbits) {
        var ol = L.geoJSON(orbits, {
          pointToLayer: function (f, ll) { return L.circle(ll, { radius: 15000, weight: 2, className: "bw-orbit" }); }
        });
        addOverlay("orbits", "orbits", ol, true);
        refreshOrbits();
      }
      if (places) {
        addOverlay("places", "places", L.geoJSON(places, {
          pointToLayer: function (f, ll) {
            var c = { source: "#6a0dad", crossing: "#111", base: "#2166ac" }[f.properties.kind] || "#333";
            return L.circleMarker(ll, { radius: 4, color: c, fillColor: c, fillOpacity: 0.9, className: "bw-place" })
              .bindTooltip(esc(f.properties.name));
          }
        }), true);
      }
      bw.tracksLayer = L.layerGroup();
      addOverlay("tracks", "tracks", bw.tracksLayer, true);
      bw.breachLayer = L.layerGroup();
      addOverlay("breachLayer", "breaches", bw.breachLayer, true);
      if (!border) { map.setView([20, 30], 3); }
    });
  }

  // -- replay ----------------------------------------------------------------
  function loadReplay() {
    if (!config.replay) { return Promise.resolve(); }
    return getJSON("/web/data/replay.json").then(function (r) {
      bw.replay = r;
      var layer = L.layerGroup();
      r.groups.forEach(function (g) {
        g.marker = L.circleMarker([g.lat, g.lon], { renderer: canvas, radius: 3 + Math.sqrt(g.size), weight: 1, color: "#000", fillColor: g.alerted ? "#d7191c" : "#888", fillOpacity: 0.85 });
        g.marker.bindTooltip(t("crossed") + " km " + g.km + (g.alerted ? " · " + t("alerted") : ""));
      });
      addOverlay("replayLayer", "replay", layer, true);
      var slider = $("slider");
      slider.max = String(Math.round(r.hours * 3600));
      $("replay-box").hidden = false;
      function show() {
        var now = Number(slider.value), n = 0;
        nowOverride = now;
        r.groups.forEach(function (g) {
          var vis = g.cross_t != null && g.cross_t <= now;
          if (vis) { n++; if (!layer.hasLayer(g.marker)) { layer.addLayer(g.marker); } } else if (layer.hasLayer(g.marker)) { layer.removeLayer(g.marker); }
        });
        var hh = Math.floor(now / 3600), mm = Math.floor((now % 3600) / 60);
        $("slider-time").textContent = (hh < 10 ? "0" : "") + hh + ":" + (mm < 10 ? "0" : "") + mm;
        $("replay-count").textContent = n + " " + t("groups");
        refreshOrbits();
      }
      bw.showReplay = show;
      slider.addEventListener("input", show);
      var timer = null;
      $("play").addEventListener("click", function () {
        if (timer) { clearInterval(timer); timer = null; $("play").textContent = t("play"); return; }
        $("play").textContent = t("pause");
        timer = setInterval(function () {
          slider.value = String((Number(slider.value) + 300) % (Number(slider.max) + 1)); show();
        }, 100);
      });
      show();
    });
  }

  // -- the channel: history, live, acknowledgements ---------------------------
  function authHeaders() { return { Authorization: "Session " + session }; }
  function bodyOf(env) {
    if (typeof env.body === "string") {          // CoT XML: take its point
      var doc = new DOMParser().parseFromString(env.body, "application/xml");
      var p = doc.querySelector("point"), e = doc.querySelector("event");
      return p ? { lat: Number(p.getAttribute("lat")), lon: Number(p.getAttribute("lon")), track_id: e && e.getAttribute("uid") } : {};
    }
    return env.body || {};
  }
  function handle(d) {
    lastPosition = Math.max(lastPosition, d.position);
    var env = d.envelope, body = bodyOf(env);
    if (env.kind === "breach") { addBreach(env, body); } else if (env.kind === "track") {
      (body.tracks || [body]).forEach(function (tr) { addTrack(env, tr); });
    } else { addMessage(env, body); }
  }
  function addTrack(env, tr) {
    if (tr.lat == null || tr.lon == null) { return; }
    var id = String(tr.track_id != null ? tr.track_id : env.id);
    var m = bw.tracks[id];
    if (m) { m.setLatLng([tr.lat, tr.lon]); return; }
    bw.tracks[id] = L.circleMarker([tr.lat, tr.lon], { renderer: canvas, radius: 4, color: "#ff7f00", weight: 1, fillOpacity: 0.9 })
      .bindTooltip(t("track") + " " + esc(id)).addTo(bw.tracksLayer);
  }
  function ackButton(env, li) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "ack"; b.textContent = t("ack");
    b.addEventListener("click", function () {
      fetch("/web/api/envelopes/" + env.id + "/ack", { method: "POST", headers: authHeaders() }).then(function (r) {
        if (r.ok) { li.classList.add("acked"); b.disabled = true; b.textContent = t("acked"); }
      });
    });
    return b;
  }
  function addBreach(env, b) {
    if (bw.breaches[env.id]) { return; }
    var when = b.detected_at || env.created;
    var li = document.createElement("li");
    li.className = "new"; li.dataset.id = env.id;
    li.innerHTML = "<b>" + t("sector") + " " + esc(b.sector != null ? Number(b.sector) + 1 : "?") + "</b> km " +
      esc(b.chainage_km != null ? Number(b.chainage_km).toFixed(1) : "?") + " · " + esc(String(when).slice(11, 19)) +
      "Z · " + t("confidence") + " " + esc(b.confidence != null ? Number(b.confidence).toFixed(2) : "?") +
      "<br><small>" + t("from") + " " + esc(env.sender) + "</small>";
    li.appendChild(ackButton(env, li));
    $("breach-list").insertBefore(li, $("breach-list").firstChild);
    var m = null;
    if (b.lat != null && b.lon != null) {
      m = L.marker([b.lat, b.lon], { icon: L.divIcon({ className: "bw-breach-icon", html: '<div class="bw-pulse"></div>', iconSize: [18, 18] }), title: "breach" })
        .bindPopup(li.innerHTML).addTo(bw.breachLayer);
      li.addEventListener("click", function () { map.panTo(m.getLatLng()); m.openPopup(); });
    }
    bw.breaches[env.id] = { envelope: env, marker: m, item: li };
  }
  function addMessage(env, body) {
    if (bw.messages[env.id]) { return; }
    var text = typeof body === "object" ? (body.text || body.message || JSON.stringify(body)) : body;
    var li = document.createElement("li");
    li.dataset.id = env.id;
    li.innerHTML = "<small>" + esc(env.kind) + " · " + t("from") + " " + esc(env.sender) + " · " +
      esc(env.created.slice(11, 19)) + "Z</small><br>" + esc(String(text).slice(0, 300));
    li.appendChild(ackButton(env, li));
    $("message-list").insertBefore(li, $("message-list").firstChild);
    bw.messages[env.id] = { envelope: env, item: li };
  }
  function clearChannel() {
    bw.tracks = {}; bw.breaches = {}; bw.messages = {}; lastPosition = 0;
    if (bw.tracksLayer) { bw.tracksLayer.clearLayers(); }
    if (bw.breachLayer) { bw.breachLayer.clearLayers(); }
    $("breach-list").innerHTML = ""; $("message-list").innerHTML = "";
  }
  function connect() {
    if (!session) { return; }
    getJSON("/web/api/envelopes?after=0&limit=1000", { headers: authHeaders() }).then(function (h) {
      h.deliveries.forEach(handle);
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      ws = new WebSocket(proto + location.host + "/web/live?session=" + encodeURIComponent(session) + "&after=" + lastPosition);
      ws.onopen = function () { bw.live = true; setStatus(); };
      ws.onmessage = function (ev) {
        var f = JSON.parse(ev.data);
        if (f.type === "deliveries") { f.deliveries.forEach(handle); }
      };
      ws.onclose = function () {
        bw.live = false; setStatus();
        if (session) { setTimeout(function () { if (session && (!ws || ws.readyState === 3)) { connect(); } }, 2000); }
      };
    }).catch(function () { logout(); });
  }
  function setStatus() {
    $("status").textContent = session ? t("loggedin") + " " + sessionParty + " · " + (bw.live ? t("live") : t("offline")) : t("loggedout");
    $("who").hidden = !session; $("who").textContent = sessionParty || "";
    $("logout").hidden = !session; $("login").hidden = !!session;
  }
  function logout() {
    session = null; sessionParty = null;
    sessionStorage.removeItem("bw-session"); sessionStorage.removeItem("bw-party");
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    bw.live = false; clearChannel(); setStatus();
  }
  $("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    fetch("/web/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ party: $("party").value, code: $("code").value }) }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, j: j }; });
    }).then(function (res) {
      if (!res.ok) { $("status").textContent = t("loginFailed") + ": " + res.j.detail; return; }
      session = res.j.session; sessionParty = res.j.party; $("code").value = "";
      sessionStorage.setItem("bw-session", session); sessionStorage.setItem("bw-party", sessionParty);
      clearChannel(); setStatus(); connect();
    });
  });
  $("logout").addEventListener("click", logout);

  // -- language ----------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) { el.placeholder = t(el.dataset.i18nPlaceholder); });
    document.querySelectorAll("[data-layer]").forEach(function (el) {
      var key = el.dataset.layer;
      var name = { terrain: config && config.terrain && config.terrain.synthetic ? "terrainSynthetic" : "terrain", breaches: "breachLayer", replay: "replayLayer" }[key] || key;
      el.textContent = t(name);
    });
    $("lang").textContent = lang === "ar" ? "English" : "العربية";
    $("lang").lang = lang === "ar" ? "en" : "ar";
    if (config && config.scenario) { $("scenario").textContent = config.scenario.title; }
    drawCountryLabels();
    setStatus();
  }
  $("lang").addEventListener("click", function () {
    lang = lang === "ar" ? "en" : "ar"; localStorage.setItem("bw-lang", lang); applyLang();
  });

  // -- start ---------------------------------------------------------------------
  getJSON("/web/config.json").then(function (c) {
    config = bw.config = c;
    control = L.control.layers(null, null, { collapsed: false }).addTo(map);
    var sel = $("party");
    c.parties.forEach(function (p) {
      var o = document.createElement("option"); o.value = p.id; o.textContent = p.name + " (" + p.id + ")"; sel.appendChild(o);
    });
    if (!c.live) { $("login").hidden = true; }
    return loadLayers().then(loadReplay);
  }).then(function () {
    applyLang();
    setInterval(function () { if (nowOverride == null) { refreshOrbits(); } }, 60000);
    if (session) { connect(); }
    bw.ready = true;
    document.body.dataset.ready = "1";
  });
}());
