"""Generates wiregate-dashboard.json beside it: edit this, run it, commit both.

The dashboard is a long JSON document of repetitive panels; built here from a few helpers,
its queries stay consistent (the same filters, rate windows and legends everywhere).
`deploy/tests/grafana_dashboard.rs` checks the JSON is what this script writes.
"""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
FI = 'instance=~"$instance", interface=~"$interface"'
FP = FI + ', friendly_name=~"$peer"'
FN = 'instance=~"$instance"'
RI = "$__rate_interval"

panels = []
next_id = [1]
cursor = {"x": 0, "y": 0, "h": 0}


def new_id():
    i = next_id[0]
    next_id[0] += 1
    return i


def place(w, h):
    if cursor["x"] + w > 24:
        cursor["x"] = 0
        cursor["y"] += cursor["h"]
        cursor["h"] = 0
    pos = {"h": h, "w": w, "x": cursor["x"], "y": cursor["y"]}
    cursor["x"] += w
    cursor["h"] = max(cursor["h"], h)
    return pos


def row(title):
    if cursor["x"] != 0:
        cursor["y"] += cursor["h"]
    cursor["x"] = 0
    cursor["h"] = 0
    pos = place(24, 1)
    cursor["x"] = 0
    cursor["y"] += 1
    cursor["h"] = 0
    panels.append({"type": "row", "id": new_id(), "title": title, "collapsed": False,
                   "gridPos": pos, "panels": []})


def target(expr, legend="", ref="A", instant=False, fmt=None):
    t = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant}
    if fmt:
        t["format"] = fmt
    return t


def targets(*pairs):
    return [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(pairs)]


def panel(kind, title, description, tgts, w, h, unit=None, **extra):
    p = {"type": kind, "id": new_id(), "title": title, "description": description,
         "datasource": DS, "gridPos": place(w, h), "targets": tgts,
         "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    for k, v in extra.items():
        if k == "defaults":
            p["fieldConfig"]["defaults"].update(v)
        elif k == "overrides":
            p["fieldConfig"]["overrides"] = v
        else:
            p[k] = v
    panels.append(p)
    return p


def thresholds(*steps):
    return {"mode": "absolute",
            "steps": [{"color": c, "value": v} for c, v in steps]}


def stat(title, description, expr, w=3, h=4, unit=None, legend="", steps=None, **extra):
    defaults = {"thresholds": thresholds(*(steps or [("blue", None)]))}
    if unit:
        defaults["unit"] = unit
    return panel("stat", title, description, [target(expr, legend)], w, h, defaults=defaults,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "value", "graphMode": "area", "textMode": "auto",
                          "justifyMode": "auto", "orientation": "auto"}, **extra)


def negative_y(regex):
    return [{"matcher": {"id": "byRegexp", "options": regex},
             "properties": [{"id": "custom.transform", "value": "negative-Y"}]}]


def timeseries(title, description, tgts, w=12, h=8, unit=None, stack=False, overrides=None,
               defaults=None):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False, "axisSoftMin": 0 if not overrides else None}
    if stack:
        custom.update({"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 60})
    custom = {k: v for k, v in custom.items() if v is not None}
    d = {"custom": custom}
    d.update(defaults or {})
    return panel("timeseries", title, description, tgts, w, h, unit=unit, defaults=d,
                 overrides=overrides or [],
                 options={"legend": {"displayMode": "table", "placement": "bottom",
                                     "calcs": ["mean", "max"], "showLegend": True},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


# --- Overview -------------------------------------------------------------------------
row("Overview")
stat("Tunnels up", "Tunnels running (wiregate_tunnel_up = 1).",
     f"sum(wiregate_tunnel_up{{{FI}}})", steps=[("green", None)])
stat("Tunnels down", "Tunnels that have failed; the reconcile loop retries them every pass.",
     f"count(wiregate_tunnel_up{{{FI}}} == 0) or vector(0)", steps=[("green", None), ("red", 1)])
stat("Peers configured", "Peers in the store.", f"sum(wiregate_peers_configured{{{FI}}})")
stat("Peers enabled", "Peers the data plane carries (enabled, not expired).",
     f"sum(wiregate_peers_enabled{{{FI}}})")
stat("Peers connected", "Peers with a handshake in the last 180 s (a live session).",
     f"sum(wiregate_peers_connected{{{FI}}})", steps=[("green", None)])
stat("Peer series omitted",
     "Peers left without per-peer series by [metrics] peer_series. When above 0, panels built "
     "from per-peer series (throughput, top peers, the peer table) leave those peers out.",
     f"sum(wiregate_peer_series_omitted{{{FI}}})", steps=[("green", None), ("orange", 1)])
stat("Throughput in", "Bits per second received from all peers (the per-tunnel counters).",
     f"8 * sum(rate(wiregate_tunnel_received_bytes_total{{{FI}}}[{RI}]))", unit="bps")
stat("Throughput out", "Bits per second sent to all peers (the per-tunnel counters).",
     f"8 * sum(rate(wiregate_tunnel_sent_bytes_total{{{FI}}}[{RI}]))", unit="bps")
timeseries("Peers connected per tunnel",
           "Peers with a live session (handshake in the last 180 s), against those enabled.",
           targets((f"sum by (instance, interface) (wiregate_peers_connected{{{FI}}})",
                    "{{interface}} connected"),
                   (f"sum by (instance, interface) (wiregate_peers_enabled{{{FI}}})",
                    "{{interface}} enabled")), w=10)
panel("state-timeline", "Tunnel state", "wiregate_tunnel_up per tunnel: up, or failed.",
      [target(f"wiregate_tunnel_up{{{FI}}}", "{{instance}} {{interface}} ({{backend}})")], 10, 8,
      defaults={"mappings": [{"type": "value", "options": {
          "0": {"text": "down", "color": "red", "index": 0},
          "1": {"text": "up", "color": "green", "index": 1}}}],
          "thresholds": thresholds(("red", None), ("green", 1))},
      options={"showValue": "auto", "mergeValues": True, "rowHeight": 0.9,
               "legend": {"showLegend": False}})
stat("Version", "wiregate_build_info: the version each instance runs.",
     f"wiregate_build_info{{{FN}}}", w=4, h=8, legend="{{version}}")
panels[-1]["options"]["textMode"] = "name"
panels[-1]["options"]["graphMode"] = "none"

# --- Throughput -----------------------------------------------------------------------
row("Throughput")
timeseries("Throughput per tunnel",
           "Bits per second received from (up) and sent to (down) each tunnel's peers, from the "
           "per-tunnel counters: every peer, on both backends, whatever peer_series says.",
           targets((f"8 * sum by (instance, interface) (rate(wiregate_tunnel_received_bytes_total{{{FI}}}[{RI}]))",
                    "{{interface}} in"),
                   (f"8 * sum by (instance, interface) (rate(wiregate_tunnel_sent_bytes_total{{{FI}}}[{RI}]))",
                    "{{interface}} out")),
           unit="bps", overrides=negative_y(".* out$"))
timeseries("Top 10 peers by traffic",
           "Bits per second sent plus received, for the 10 busiest peers at each moment.",
           [target(f"topk(10, 8 * sum by (interface, friendly_name, public_key) ("
                   f"rate(wireguard_sent_bytes_total{{{FP}}}[{RI}]) "
                   f"+ rate(wireguard_received_bytes_total{{{FP}}}[{RI}])))",
                   "{{friendly_name}} {{public_key}} ({{interface}})")], unit="bps")
panel("bargauge", "Top 10 peers by traffic over the time range",
      "Bytes sent plus received in the dashboard's time range.",
      [target(f"topk(10, sum by (interface, friendly_name, public_key) ("
              f"increase(wireguard_sent_bytes_total{{{FP}}}[$__range]) "
              f"+ increase(wireguard_received_bytes_total{{{FP}}}[$__range])))",
              "{{friendly_name}} {{public_key}} ({{interface}})", instant=True)], 24, 8,
      unit="bytes", defaults={"thresholds": thresholds(("blue", None))},
      options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
               "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})

# --- Handshakes -----------------------------------------------------------------------
row("Handshakes")
timeseries("Handshakes",
           "Initiations received (passing their MAC check) and handshakes completed per second, "
           "either side initiating. Each live peer re-handshakes every 2 minutes; spikes are "
           "peers reconnecting together; initiations well above completions are failing peers "
           "or a flood.",
           targets((f"sum by (instance, interface) (rate(wiregate_handshake_initiations_received_total{{{FI}}}[{RI}]))",
                    "{{interface}} initiations received"),
                   (f"sum by (instance, interface) (rate(wiregate_handshake_initiations_sent_total{{{FI}}}[{RI}]))",
                    "{{interface}} initiations sent"),
                   (f"sum by (instance, interface) (rate(wiregate_handshakes_completed_total{{{FI}}}[{RI}]))",
                    "{{interface}} completed"),
                   (f"sum by (instance, interface) (rate(wiregate_handshakes_failed_total{{{FI}}}[{RI}]))",
                    "{{interface}} failed")), w=8, unit="ops")
timeseries("Cookie replies sent",
           "Cookie replies per second: initiations answered with a cookie instead of a "
           "response because the tunnel was under load.",
           [target(f"sum by (instance, interface) (rate(wiregate_cookie_replies_sent_total{{{FI}}}[{RI}]))",
                   "{{interface}}")], w=8, unit="ops")
panel("state-timeline", "Under load",
      "Whether the tunnel answers initiations with cookies (wiregate_under_load).",
      [target(f"max by (instance, interface) (wiregate_under_load{{{FI}}})", "{{interface}}")],
      8, 8,
      defaults={"mappings": [{"type": "value", "options": {
          "0": {"text": "normal", "color": "green", "index": 0},
          "1": {"text": "under load", "color": "orange", "index": 1}}}],
          "thresholds": thresholds(("green", None), ("orange", 1))},
      options={"showValue": "auto", "mergeValues": True, "rowHeight": 0.9,
               "legend": {"showLegend": False}})

# --- Drops ----------------------------------------------------------------------------
row("Drops")
timeseries("Drops by reason",
           "Packets dropped per second, stacked by reason (see docs/metrics.md for each).",
           [target(f"sum by (reason) (rate(wiregate_packets_dropped_total{{{FI}}}[{RI}]))",
                   "{{reason}}")], unit="pps", stack=True)
timeseries("Drop share per tunnel",
           "Dropped packets as a share of all the tunnel handled (carried + dropped), as the "
           "WiregateDropRateHigh alert computes it over 10 minutes (threshold 5%).",
           [target(f"sum by (instance, interface) (rate(wiregate_packets_dropped_total{{{FI}}}[{RI}])) "
                   f"/ (sum by (instance, interface) (rate(wiregate_shard_packets_total{{{FI}}}[{RI}])) "
                   f"+ sum by (instance, interface) (rate(wiregate_packets_dropped_total{{{FI}}}[{RI}])))",
                   "{{interface}}")], unit="percentunit",
           defaults={"thresholds": thresholds(("green", None), ("red", 0.05)),
                     "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                "showPoints": "never", "axisSoftMin": 0,
                                "thresholdsStyle": {"mode": "line"}}})

# --- Shards ---------------------------------------------------------------------------
row("Shards")
timeseries("Packets per shard",
           "Data packets per second each shard decrypts and encrypts (rx + tx). Peers are "
           "spread over shards by key; lines far apart mean one shard carries heavy peers.",
           [target(f"sum by (instance, interface, shard) (rate(wiregate_shard_packets_total{{{FI}}}[{RI}]))",
                   "{{interface}} shard {{shard}}")], w=8, unit="pps")
timeseries("Bytes per shard",
           "Bits per second per shard: plaintext written to the TUN (rx, up) and encrypted "
           "bytes sent (tx, down).",
           [target(f"8 * sum by (instance, interface, shard, direction) (rate(wiregate_shard_bytes_total{{{FI}}}[{RI}]))",
                   "{{interface}} shard {{shard}} {{direction}}")], w=8, unit="bps",
           overrides=negative_y(".* tx$"))
timeseries("Shard imbalance",
           "Packet rate of the busiest shard over the mean of the tunnel's shards: 1 is "
           "balanced; 2 means one shard does twice its share (and saturates first).",
           [target(f"max by (instance, interface) (sum by (instance, interface, shard) (rate(wiregate_shard_packets_total{{{FI}}}[{RI}]))) "
                   f"/ avg by (instance, interface) (sum by (instance, interface, shard) (rate(wiregate_shard_packets_total{{{FI}}}[{RI}])))",
                   "{{interface}}")], w=8, unit="none")
panel("bargauge", "Peers per shard", "Peers each shard owns now.",
      [target(f"sum by (instance, interface, shard) (wiregate_shard_peers{{{FI}}})",
              "{{interface}} shard {{shard}}", instant=True)], 24, 6,
      defaults={"thresholds": thresholds(("blue", None))},
      options={"orientation": "vertical", "displayMode": "basic", "showUnfilled": True,
               "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})

# --- Control plane --------------------------------------------------------------------
timeseries("Mean batch size",
           "Datagrams per UDP call and packets per TUN read or flush, on average: the larger, "
           "the fewer system calls per packet. Near 1 under light load; grows with load.",
           targets((f"sum by (instance, interface, direction) (rate(wiregate_udp_batch_size_sum{{{FI}}}[{RI}])) "
                    f"/ sum by (instance, interface, direction) (rate(wiregate_udp_batch_size_count{{{FI}}}[{RI}]))",
                    "{{interface}} udp {{direction}}"),
                   (f"sum by (instance, interface, direction) (rate(wiregate_tun_batch_size_sum{{{FI}}}[{RI}])) "
                    f"/ sum by (instance, interface, direction) (rate(wiregate_tun_batch_size_count{{{FI}}}[{RI}]))",
                    "{{interface}} tun {{direction}}")), w=12)
timeseries("Batch size, p90",
           "The 90th percentile of packets per I/O call, from the histograms.",
           targets((f"histogram_quantile(0.9, sum by (instance, interface, direction, le) (rate(wiregate_udp_batch_size_bucket{{{FI}}}[{RI}])))",
                    "{{interface}} udp {{direction}}"),
                   (f"histogram_quantile(0.9, sum by (instance, interface, direction, le) (rate(wiregate_tun_batch_size_bucket{{{FI}}}[{RI}])))",
                    "{{interface}} tun {{direction}}")), w=12)

row("Control plane")
timeseries("Reconcile passes",
           "Periodic reconcile passes per minute (6 at the default 10 s interval). A flat "
           "zero means the loop is stuck.",
           [target(f"60 * sum by (instance) (rate(wiregate_reconcile_passes_total{{{FN}}}[{RI}]))",
                   "{{instance}}")], w=8, unit="opm")
timeseries("Reconcile failures and drift repairs",
           "Per minute: applies that failed (the tunnel keeps its last good state), and "
           "passes that found the data plane changed behind wiregate's back and repaired it.",
           targets((f"60 * sum by (instance, interface) (rate(wiregate_reconcile_failures_total{{{FI}}}[{RI}]))",
                    "{{interface}} failures"),
                   (f"60 * sum by (instance, interface) (rate(wiregate_reconcile_drift_repaired_total{{{FI}}}[{RI}]))",
                    "{{interface}} drift repaired")), w=16, unit="opm")
timeseries("API requests",
           "API requests per second by route and status.",
           [target(f"sum by (method, route, status) (rate(wiregate_api_requests_total{{{FN}}}[{RI}]))",
                   "{{method}} {{route}} {{status}}")], w=8, unit="reqps")
timeseries("API server errors",
           "Share of API requests answered with a 5xx status.",
           [target(f"sum(rate(wiregate_api_requests_total{{{FN}, status=~\"5..\"}}[{RI}])) "
                   f"/ sum(rate(wiregate_api_requests_total{{{FN}}}[{RI}]))", "5xx")],
           w=8, unit="percentunit")
timeseries("API latency",
           "Request latency quantiles over all routes, from the histogram.",
           targets((f"histogram_quantile(0.5, sum by (le) (rate(wiregate_api_request_duration_seconds_bucket{{{FN}}}[{RI}])))",
                    "p50"),
                   (f"histogram_quantile(0.99, sum by (le) (rate(wiregate_api_request_duration_seconds_bucket{{{FN}}}[{RI}])))",
                    "p99")), w=8, unit="s")
timeseries("API p99 latency by route", "99th percentile latency of each route.",
           [target(f"histogram_quantile(0.99, sum by (le, method, route) (rate(wiregate_api_request_duration_seconds_bucket{{{FN}}}[{RI}])))",
                   "{{method}} {{route}}")], w=12, unit="s")
timeseries("API mean latency by route", "Mean latency of each route (sum / count).",
           [target(f"sum by (method, route) (rate(wiregate_api_request_duration_seconds_sum{{{FN}}}[{RI}])) "
                   f"/ sum by (method, route) (rate(wiregate_api_request_duration_seconds_count{{{FN}}}[{RI}]))",
                   "{{method}} {{route}}")], w=12, unit="s")

row("Fleet")
timeseries("Change fan-out",
           "From a change committed through any gateway sharing the store to its tunnel "
           "applied on this one, from the histogram (PostgreSQL stores only). Over a second "
           "means announcements are late or lost; the periodic pass still applies changes.",
           targets((f"histogram_quantile(0.5, sum by (instance, le) (rate(wiregate_store_fanout_seconds_bucket{{{FN}}}[{RI}])))",
                    "{{instance}} p50"),
                   (f"histogram_quantile(0.99, sum by (instance, le) (rate(wiregate_store_fanout_seconds_bucket{{{FN}}}[{RI}])))",
                    "{{instance}} p99")), w=12, unit="s")
timeseries("Node heartbeat age",
           "Seconds since each node last reported to the store, as the store says (it "
           "reports every 2 s; lost after 10 s). The alert fires above 30 s for 2 minutes.",
           [target(f"max by (node) (wiregate_node_heartbeat_age_seconds{{{FN}}})",
                   "{{node}}")], w=12, unit="s")
timeseries("Leases held",
           "Tunnels placed on several nodes that each node serves (holds the lease of).",
           [target(f"sum by (instance) (wiregate_node_leases{{{FN}}})",
                   "{{instance}}")], w=12, unit="none")
timeseries("Store errors",
           "Per minute: heartbeats, lease renewals and reconcile reads the store failed, "
           "per node. Non-zero while the database cannot be reached.",
           [target(f"60 * sum by (instance) (rate(wiregate_store_errors_total{{{FN}}}[{RI}]))",
                   "{{instance}}")], w=12, unit="opm")

# --- Process --------------------------------------------------------------------------
row("Process")
# process_* names are every exporter's: `and on (instance) wiregate_build_info` keeps
# wiregate's own.
timeseries("CPU", "CPU time per second (cores busy) of the wiregate process.",
           [target(f"rate(process_cpu_seconds_total{{{FN}}}[{RI}]) and on (job, instance) wiregate_build_info",
                   "{{instance}}")], w=8, unit="none")
timeseries("Resident memory", "Resident memory of the wiregate process.",
           [target(f"process_resident_memory_bytes{{{FN}}} and on (job, instance) wiregate_build_info",
                   "{{instance}}")], w=8, unit="bytes")
timeseries("Open file descriptors", "Open files and sockets, against the process's limit.",
           targets((f"process_open_fds{{{FN}}} and on (job, instance) wiregate_build_info",
                    "{{instance}} open"),
                   (f"process_max_fds{{{FN}}} and on (job, instance) wiregate_build_info",
                    "{{instance}} limit")), w=8, unit="none")

# --- Peers ----------------------------------------------------------------------------
row("Peers")
age_override = {"matcher": {"id": "byName", "options": "Latest handshake"}, "properties": [
    {"id": "unit", "value": "s"},
    {"id": "mappings", "value": [{"type": "range", "options": {
        "from": 1e9, "to": None, "result": {"text": "never", "index": 0}}}]},
    {"id": "thresholds", "value": thresholds(("green", None), ("text", 180))},
    {"id": "custom.cellOptions", "value": {"type": "color-text"}}]}
bytes_override = {"matcher": {"id": "byRegexp", "options": "^(Sent|Received)$"},
                  "properties": [{"id": "unit", "value": "bytes"}]}
panel("table", "Peers",
      "Each peer's latest handshake age (green: a live session, under 180 s; \"never\": no "
      "handshake yet) and its traffic in the time range. Peers without a name are not in "
      "the store (added with wg set); the peer filter selects by name.",
      [target(f"time() - wireguard_latest_handshake_seconds{{{FP}}}", "", "A", True, "table"),
       target(f"increase(wireguard_received_bytes_total{{{FP}}}[$__range])", "", "B", True, "table"),
       target(f"increase(wireguard_sent_bytes_total{{{FP}}}[$__range])", "", "C", True, "table")],
      24, 12, overrides=[age_override, bytes_override],
      transformations=[
          {"id": "merge", "options": {}},
          {"id": "organize", "options": {
              "excludeByName": {"Time": True, "job": True},
              "indexByName": {"friendly_name": 0, "interface": 1, "allowed_ips": 2,
                              "public_key": 3, "Value #A": 4, "Value #B": 5, "Value #C": 6,
                              "peer_id": 7, "instance": 8},
              "renameByName": {"friendly_name": "Name", "interface": "Tunnel",
                               "allowed_ips": "Allowed IPs", "public_key": "Public key",
                               "peer_id": "Id", "instance": "Instance",
                               "Value #A": "Latest handshake", "Value #B": "Received",
                               "Value #C": "Sent"}}}],
      options={"showHeader": True, "cellHeight": "sm",
               "sortBy": [{"displayName": "Latest handshake", "desc": False}]})


def query_var(name, label, query, sort=1):
    return {"type": "query", "name": name, "label": label, "datasource": DS,
            "definition": query, "query": query, "refresh": 2, "regex": "", "sort": sort,
            "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [], "hide": 0}


dashboard = {
    "title": "wiregate",
    "uid": "wiregate",
    "description": "WireGuard gateway: tunnels, peers, data plane and control plane "
                   "(metrics: docs/metrics.md).",
    "tags": ["wiregate", "wireguard"],
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "30s",
    "timezone": "",
    "fiscalYearStartMonth": 0,
    "liveNow": False,
    "links": [],
    "annotations": {"list": [{
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts", "type": "dashboard"}]},
    "templating": {"list": [
        {"type": "datasource", "name": "datasource", "label": "Data source",
         "query": "prometheus", "refresh": 1, "regex": "", "hide": 0,
         "current": {}, "options": []},
        query_var("instance", "Instance", "label_values(wiregate_build_info, instance)"),
        query_var("interface", "Tunnel",
                  'label_values(wiregate_tunnel_up{instance=~"$instance"}, interface)'),
        query_var("peer", "Peer",
                  'label_values(wireguard_latest_handshake_seconds{instance=~"$instance", '
                  'interface=~"$interface"}, friendly_name)'),
    ]},
    "panels": panels,
}

text = json.dumps(dashboard, indent=2) + "\n"
if sys.argv[1:] == ["--stdout"]:
    sys.stdout.write(text)
else:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wiregate-dashboard.json")
    with open(path, "w") as f:
        f.write(text)
